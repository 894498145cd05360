"""Account errors on the Django-free base (pixell/errors.py); the API maps them to the envelope."""

from pixell.errors import PixellError


class EmailNotVerified(PixellError):
    status_code = 403
    code = "EMAIL_NOT_VERIFIED"
    default_message = "Please verify your email address before signing in"
