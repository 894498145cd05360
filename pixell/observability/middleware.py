"""The outermost middleware: gives every request its id, answers it in ``X-Request-ID``, writes
the request's one log line and records its metrics. Kept cheap: no I/O besides the log line and
two in-memory (mmap) metric updates."""

import logging
import time

from pixell.api.client import client_address
from pixell.observability import metrics
from pixell.observability.context import REQUEST_ID_HEADER, accepted_request_id, request_id_var
from pixell.observability.redaction import redact_path

logger = logging.getLogger("pixell.request")


def _client_address(request) -> str:
    # The one call site that decides the logged client address: the same function rate limits
    # and login throttling use, so proxies are trusted (or not) alike everywhere.
    return client_address(request)


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        request_id = accepted_request_id(request.META.get("HTTP_X_REQUEST_ID"))
        request.request_id = request_id
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            duration = time.perf_counter() - started
            view = _view_name(request)
            metrics.request_observed(
                view=view, method=request.method, status=response.status_code, seconds=duration
            )
            organization = getattr(request, "pixell_organization", None)
            logger.info(
                "%s %s %s",
                request.method,
                redact_path(request.path),
                response.status_code,
                extra={
                    "method": request.method,
                    "path": redact_path(request.path),
                    "status": response.status_code,
                    "duration_ms": round(duration * 1000, 2),
                    "view": view,
                    "organization": str(organization.pk) if organization is not None else None,
                    "client": _client_address(request),
                },
            )
            return response
        finally:
            request_id_var.reset(token)


def _view_name(request) -> str:
    # The route's name, never the raw path: label values must stay few (ids would explode them).
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return match.view_name or match.route or "unnamed"
