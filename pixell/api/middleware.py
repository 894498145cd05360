"""Cross-cutting behaviour of every ``/api`` request: identity, rate limit and its headers, and the
organization's API-call count.

It runs as middleware, not as a DRF throttle, so that 404s of unknown paths and 405s carry the
headers too (docs/CONTRACT.md §9). For an API key this process has already seen, everything the request
needs from the shared cache — its rate-limit bucket, its organization's API-call counter and the
organization's version token that confirms the remembered identity — is one round trip, and no
database query is made to authenticate it.

The count itself belongs to ``usage``, which sits above this layer: usage registers its three
counting functions here from its ``AppConfig.ready()`` (``api_call_counting_register``), so the
middleware keeps its one round trip without importing a domain. Until something registers, API
calls are not counted.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.core.cache import cache

from pixell.api import ratelimit
from pixell.api.authentication import api_key_fast_path, api_key_fast_path_confirm, identify
from pixell.api.exceptions import json_error
from pixell.errors import AuthenticationFailed

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApiCallCounting:
    # counter(organization_id=) -> ((cache key, ttl), day): the increment sent with the rate limit.
    counter: Callable
    # counted(organization_id=, day=, count=): told the new count of that increment.
    counted: Callable
    # count(organization_id=): counts one call on its own (the path without the fast path).
    count: Callable


_counting: ApiCallCounting | None = None


def api_call_counting_register(counting: ApiCallCounting | None) -> None:
    """Called by the app that owns API-call counting (usage) once, from its ``AppConfig.ready()``."""
    global _counting
    _counting = counting


class ApiMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path
        if not (path.startswith("/api/") or path == "/api") or ratelimit.is_exempt(path, request):
            return self.get_response(request)
        fast = api_key_fast_path(request)
        if fast is not None:
            result = self._hit_api_key(request, fast)
        else:
            try:
                identity = identify(request)
            except AuthenticationFailed:
                identity = None  # bad credentials are refused by the view; count them per address
            result = ratelimit.hit(request, identity)
        if result["limited"]:
            headers = {**result["headers"], "Retry-After": str(result["retry_after"])}
            return json_error(
                429, "Rate limit exceeded; retry later", "RATE_LIMITED", headers=headers
            )
        response = self.get_response(request)
        for name, value in result["headers"].items():
            response[name] = value
        if not getattr(request, "_pixell_api_call_counted", False):
            _count_api_call(request)
        return response

    def _hit_api_key(self, request, fast):
        organization_id = fast.key.organization_id
        counting = _counting
        counter = day = None
        if counting is not None:
            counter, day = counting.counter(organization_id=organization_id)
        result = ratelimit.hit(
            request,
            fast.identity,
            increments=[counter] if counter else [],
            reads=[fast.version_key],
        )
        if api_key_fast_path_confirm(request, fast, result["values"][0]):
            if counter:
                request._pixell_api_call_counted = True
                _safely(
                    counting.counted,
                    organization_id=organization_id,
                    day=day,
                    count=result["counts"][0],
                )
        else:
            # The organization changed (or the key was rotated or deleted): the count just made was
            # for a caller not yet confirmed, so take it back, and identify from the database.
            if counter:
                _safely(cache.decr, counter[0])
            try:
                identify(request)
            except AuthenticationFailed:
                pass
        return result


def _safely(function, *args, **kwargs) -> None:
    # Counting must never break the response it counts.
    try:
        function(*args, **kwargs)
    except Exception:
        logger.warning("Could not count an API call", exc_info=True)


def _count_api_call(request) -> None:
    """Usage metrics' apiCalls (docs/CONTRACT.md §8): requests that reached an organization route (the base
    view sets ``pixell_organization``). A cache increment, never a database write per request."""
    organization = getattr(request, "pixell_organization", None)
    if organization is None or _counting is None:
        return
    try:
        _counting.count(organization_id=organization.pk)
    except Exception:  # counting must never break the response it counts
        logger.warning("Could not count an API call of %s", organization.pk, exc_info=True)
