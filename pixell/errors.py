"""The base of every domain error, free of Django and DRF so any floor can raise it.

Each app's ``errors.py`` builds its own errors on these kinds; ``pixell.api.exceptions`` turns any
``PixellError`` into the one envelope ``{"error", "code", "details"}`` by its ``status_code`` and
``code`` (docs/CONTRACT.md §9).
"""


class PixellError(Exception):
    status_code = 400
    code = "VALIDATION_ERROR"
    default_message = "Invalid request"

    def __init__(
        self,
        message: str | None = None,
        *,
        details=None,
        extra: dict | None = None,
        headers: dict | None = None,
    ):
        self.message = message or self.default_message
        self.details = details
        # Extra top-level keys some responses carry (402's required/available).
        self.extra = extra or {}
        # Response headers the error needs (429's Retry-After).
        self.headers = headers or {}
        super().__init__(self.message)


class ValidationError(PixellError):
    status_code = 400
    code = "VALIDATION_ERROR"
    default_message = "Validation failed"


class AuthenticationFailed(PixellError):
    status_code = 401
    code = "AUTHENTICATION_FAILED"
    default_message = "Invalid API key or session"


class PermissionDenied(PixellError):
    status_code = 403
    code = "PERMISSION_DENIED"
    default_message = "You do not have permission to perform this action"


class NotFound(PixellError):
    status_code = 404
    code = "NOT_FOUND"
    default_message = "Not found"


class Conflict(PixellError):
    status_code = 409
    code = "CONFLICT"
    default_message = "Conflict"


class RateLimited(PixellError):
    status_code = 429
    code = "RATE_LIMITED"
    default_message = "Too many requests"
