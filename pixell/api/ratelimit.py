"""API rate limiting with django-ratelimit (CONTRACT §9).

Counted per API key or user when authenticated, per client address otherwise. The counters live in
the shared cache (Redis in production, a file cache in the embedded default).
"""

import time

from django.conf import settings
from django_ratelimit.core import get_usage

EXEMPT_PATHS = {"/api/health", "/api/stripe/webhook"}
EXEMPT_PREFIXES = ("/api/cron/", "/api/runtime/")


def is_exempt(path: str) -> bool:
    return path.rstrip("/") in EXEMPT_PATHS or path.startswith(EXEMPT_PREFIXES)


def client_address(request) -> str:
    # REMOTE_ADDR only: trusting X-Forwarded-For without a known proxy lets anyone pick their
    # own bucket. Behind a proxy, set it up to rewrite REMOTE_ADDR (e.g. gunicorn --forwarded-allow-ips).
    return request.META.get("REMOTE_ADDR") or "unknown"


def rate_limit_key(identity, request) -> tuple[str, str]:
    """(bucket key, rate) for a caller."""
    if identity is not None and identity.api_key is not None:
        return f"key:{identity.api_key.pk}", settings.PIXELL_RATE_LIMIT_AUTHENTICATED
    if identity is not None and identity.user is not None:
        return f"user:{identity.user.pk}", settings.PIXELL_RATE_LIMIT_AUTHENTICATED
    return f"ip:{client_address(request)}", settings.PIXELL_RATE_LIMIT_ANONYMOUS


def hit(request, identity) -> dict:
    """Count one request; returns limit, remaining, reset (unix time) and limited."""
    key, rate = rate_limit_key(identity, request)
    usage = get_usage(request, group="pixell-api", key=lambda group, req: key, rate=rate, increment=True)
    if usage is None:  # RATELIMIT_ENABLE = False
        return {"limited": False, "headers": {}}
    now = int(time.time())
    reset = now + max(usage["time_left"], 0)
    remaining = max(usage["limit"] - usage["count"], 0)
    headers = {
        "X-RateLimit-Limit": str(usage["limit"]),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(reset),
    }
    return {"limited": usage["should_limit"], "headers": headers, "retry_after": max(reset - now, 1)}
