"""The one error envelope (docs/CONTRACT.md §9): ``{"error", "code", "details"}`` for every 4xx and 5xx.

Domain code raises ``PixellError`` subclasses (``pixell/errors.py``; each app's ``errors.py`` defines
its own on top of them), mapped here by their status and code; so are DRF's exceptions and Django's
404/405/500. Only bugs become 500s, and a 500 never shows a traceback.
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response

from pixell.api.viewsets import dashboard_not_found
from pixell.errors import NotFound, PermissionDenied, PixellError, ValidationError

logger = logging.getLogger(__name__)


def envelope(status: int, message: str, code: str, details=None, extra: dict | None = None) -> dict:
    body = {"error": message, "code": code, "details": details}
    if extra:
        body.update(extra)
    return body


def error_response(error: PixellError) -> Response:
    response = Response(
        envelope(error.status_code, error.message, error.code, error.details, error.extra),
        status=error.status_code,
    )
    for name, value in error.headers.items():
        response[name] = value
    if error.status_code == 401:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def json_error(
    status: int, message: str, code: str, details=None, headers: dict | None = None
) -> JsonResponse:
    response = JsonResponse(envelope(status, message, code, details), status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


_DRF_CODES = {
    drf_exceptions.ParseError: ("VALIDATION_ERROR", None),
    drf_exceptions.AuthenticationFailed: ("AUTHENTICATION_FAILED", "Invalid API key or session"),
    drf_exceptions.NotAuthenticated: ("AUTHENTICATION_FAILED", "Authentication required"),
    drf_exceptions.PermissionDenied: ("PERMISSION_DENIED", None),
    drf_exceptions.NotFound: ("NOT_FOUND", "Not found"),
    drf_exceptions.MethodNotAllowed: ("METHOD_NOT_ALLOWED", None),
    drf_exceptions.NotAcceptable: ("VALIDATION_ERROR", None),
    drf_exceptions.UnsupportedMediaType: ("VALIDATION_ERROR", None),
    drf_exceptions.Throttled: ("RATE_LIMITED", None),
}


def exception_handler(exc, context):
    if isinstance(exc, PixellError):
        return error_response(exc)
    if isinstance(exc, Http404):
        return error_response(NotFound())
    if isinstance(exc, DjangoPermissionDenied):
        return error_response(PermissionDenied())
    if isinstance(exc, SuspiciousOperation):
        # Raised while DRF reads the request (body over DATA_UPLOAD_MAX_MEMORY_SIZE, too many fields
        # or files): the client's fault, so a 400 as Django itself answers outside DRF, not a 500.
        # Only these messages are safe to echo; other suspicious operations stay generic.
        known = isinstance(exc, RequestDataTooBig | TooManyFieldsSent | TooManyFilesSent)
        logging.getLogger("django.security").warning("%s: %s", type(exc).__name__, exc)
        return error_response(ValidationError(str(exc) if known else "Bad request"))
    if isinstance(exc, drf_exceptions.ValidationError):
        return Response(
            envelope(400, _first_message(exc.detail), "VALIDATION_ERROR", exc.detail),
            status=400,
        )
    if isinstance(exc, drf_exceptions.APIException):
        code, message = next(
            (known for klass, known in _DRF_CODES.items() if isinstance(exc, klass)),
            ("INTERNAL_ERROR" if exc.status_code >= 500 else "VALIDATION_ERROR", None),
        )
        response = Response(
            envelope(exc.status_code, message or str(exc.detail), code), status=exc.status_code
        )
        if isinstance(exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed):
            response.status_code = 401
            response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    logger.exception(
        "Unhandled error in %s", context.get("view").__class__.__name__ if context else "?"
    )
    return Response(envelope(500, "Internal server error", "INTERNAL_ERROR"), status=500)


def _first_message(detail) -> str:
    """A readable one-line summary naming the first offending field."""
    if isinstance(detail, dict):
        for field, value in detail.items():
            inner = _first_message(value)
            return inner if field == "non_field_errors" else f"{field}: {inner}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail) or "Validation failed"


# Django-level handlers (urls.py): JSON envelope under /api, plain pages elsewhere (the dashboard's
# own page for a /dashboard/ path no route matches).
def _is_api(request) -> bool:
    return request.path.startswith("/api/") or request.path == "/api"


def handler404(request, exception=None):
    if _is_api(request):
        return json_error(404, "Not found", "NOT_FOUND")
    if request.path.startswith("/dashboard/"):
        return dashboard_not_found(request)
    return defaults.page_not_found(request, exception)


def handler500(request):
    if _is_api(request):
        return json_error(500, "Internal server error", "INTERNAL_ERROR")
    return defaults.server_error(request)


def handler403(request, exception=None):
    if _is_api(request):
        return json_error(403, "Forbidden", "PERMISSION_DENIED")
    return defaults.permission_denied(request, exception)


def handler400(request, exception=None):
    if _is_api(request):
        return json_error(400, "Bad request", "VALIDATION_ERROR")
    return defaults.bad_request(request, exception)
