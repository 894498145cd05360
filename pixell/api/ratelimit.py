"""API rate limiting (docs/CONTRACT.md §9): fixed windows counted per API key or user when authenticated,
per client address otherwise, in the shared cache (Redis in production, a file cache embedded).

Why not django-ratelimit here: its ``get_usage`` costs two cache round trips per request (ADD, then
INCR), and the /api hot path also has to count the organization's API calls and check the API-key
identity cache. ``pixell.cache.counters_hit`` does all of it in one pipelined round trip, which is
what the issue's own performance goal needs (benchmarks/auth_overhead.py, README). django-ratelimit
still throttles sign-ins (accounts/throttle.py), where its semantics fit and speed does not matter.
"""

import time

from django.conf import settings

from pixell.api.client import client_address
from pixell.cache import counters_hit

EXEMPT_PATHS = {"/api/health", "/api/health/live", "/api/health/ready", "/api/stripe/webhook"}
EXEMPT_PREFIXES = ("/api/cron/", "/api/runtime/")
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


# Requests that carry their own authorization (e.g. agentapps' signed download links) are exempt;
# apps register a predicate in AppConfig.ready(), as pixell/api may not import them.
_EXEMPTIONS: list = []


def exemption_register(predicate) -> None:
    """``predicate(request) -> bool``: True exempts the request from rate limiting."""
    if predicate not in _EXEMPTIONS:
        _EXEMPTIONS.append(predicate)


def is_exempt(path: str, request=None) -> bool:
    if path.rstrip("/") in EXEMPT_PATHS or path.startswith(EXEMPT_PREFIXES):
        return True
    return request is not None and any(predicate(request) for predicate in _EXEMPTIONS)


def parse_rate(rate: str) -> tuple[int, int]:
    """ "N/s|m|h|d" (validated at boot by pixell.env.get_rate) → (limit, period in seconds)."""
    count, unit = rate.split("/")
    return int(count), _PERIODS[unit]


def bucket_for(identity, request) -> tuple[str, str]:
    """(bucket name, rate) for a caller."""
    if identity is not None and identity.api_key is not None:
        return f"key:{identity.api_key.pk}", settings.PIXELL_RATE_LIMIT_AUTHENTICATED
    if identity is not None and identity.user is not None:
        return f"user:{identity.user.pk}", settings.PIXELL_RATE_LIMIT_AUTHENTICATED
    return f"ip:{client_address(request)}", settings.PIXELL_RATE_LIMIT_ANONYMOUS


def hit(
    request, identity, *, bucket: tuple[str, str] | None = None, increments=(), reads=()
) -> dict:
    """Count one request in its bucket (plus any other ``increments``/``reads``, same round trip).

    Returns ``limited``, the X-RateLimit-* ``headers``, ``retry_after`` (seconds), and the
    ``counts``/``values`` of the extra increments and reads.
    """
    name, rate = bucket or bucket_for(identity, request)
    limit, period = parse_rate(rate)
    now = int(time.time())
    window_start = now - now % period
    reset = window_start + period
    # The window is part of the key, so a bucket never needs resetting; it expires after its window.
    key = f"rl:{name}:{period}:{window_start}"
    counts, values = counters_hit([(key, period + 5), *increments], list(reads))
    count = counts[0]
    headers = {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(max(limit - count, 0)),
        "X-RateLimit-Reset": str(reset),
    }
    return {
        "limited": count > limit,
        "headers": headers,
        "retry_after": max(reset - now, 1),
        "counts": counts[1:],
        "values": values,
    }
