"""Cross-cutting behaviour of every ``/api`` response: rate limit and its headers.

It runs as middleware, not as a DRF throttle, so that 404s of unknown paths and 405s carry the
headers too (CONTRACT §9).
"""

import logging

from pixell.api import ratelimit
from pixell.api.authentication import identify
from pixell.api.exceptions import AuthenticationFailed, json_error
from usage.services import api_call_count

logger = logging.getLogger(__name__)


class ApiMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path
        if not (path.startswith("/api/") or path == "/api") or ratelimit.is_exempt(path):
            return self.get_response(request)
        try:
            identity = identify(request)
        except AuthenticationFailed:
            identity = None  # bad credentials are refused by the view; count them per address
        result = ratelimit.hit(request, identity)
        if result["limited"]:
            headers = {**result["headers"], "Retry-After": str(result["retry_after"])}
            return json_error(429, "Rate limit exceeded; retry later", "RATE_LIMITED", headers=headers)
        response = self.get_response(request)
        for name, value in result["headers"].items():
            response[name] = value
        _count_api_call(request)
        return response


def _count_api_call(request) -> None:
    """Usage metrics' apiCalls (CONTRACT §8): requests that reached an organization route (the base
    view sets ``pixell_organization``). A cache increment, never a database write per request."""
    organization = getattr(request, "pixell_organization", None)
    if organization is None:
        return
    try:
        api_call_count(organization_id=organization.pk)
    except Exception:  # counting must never break the response it counts
        logger.warning("Could not count an API call of %s", organization.pk, exc_info=True)
