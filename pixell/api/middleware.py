"""Cross-cutting behaviour of every ``/api`` response: rate limit and its headers.

It runs as middleware, not as a DRF throttle, so that 404s of unknown paths and 405s carry the
headers too (CONTRACT §9).
"""

from pixell.api import ratelimit
from pixell.api.authentication import identify
from pixell.api.exceptions import AuthenticationFailed, json_error


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
        return response
