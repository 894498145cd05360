"""One-time keys carried by emailed links (docs/CONTRACT.md §2: every link ends in its token).

Verification keys are signed, not stored: a ``TimestampSigner`` token of the user's id and email.
Changing the email invalidates every key sent to the old address; the signature's timestamp bounds
the key's life.
"""

from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from accounts.models import User
from pixell.ids import uuid_or_none

VERIFY_EMAIL_SALT = "pixell.accounts.verify-email"
VERIFY_EMAIL_MAX_AGE = 3 * 24 * 3600


def email_verification_key_make(*, user: User) -> str:
    # sign_object's output is URL-safe base64 plus ':' separators, so it fits in a path segment
    # whatever characters the email address holds.
    return signing.TimestampSigner(salt=VERIFY_EMAIL_SALT).sign_object(
        {"u": str(user.pk), "e": user.email}
    )


def email_verification_key_read(key: str) -> User | None:
    """The user a valid, unexpired key names, if their email is still the one it was sent to."""
    try:
        payload = signing.TimestampSigner(salt=VERIFY_EMAIL_SALT).unsign_object(
            key, max_age=VERIFY_EMAIL_MAX_AGE
        )
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(payload, dict):
        return None
    pk = uuid_or_none(payload.get("u"))
    user = User.objects.filter(pk=pk, is_active=True).first() if pk else None
    if user is None or user.email != payload.get("e"):
        return None
    return user


def password_reset_uid_make(*, user: User) -> str:
    return urlsafe_base64_encode(force_bytes(user.pk))


def password_reset_token_make(*, user: User) -> str:
    # Django's generator hashes the password and last_login into the token: it dies once used.
    return default_token_generator.make_token(user)


def password_reset_user_read(*, uid: str, token: str) -> User | None:
    try:
        user_id = force_str(urlsafe_base64_decode(uid))
    except (ValueError, TypeError, UnicodeDecodeError):
        return None
    pk = uuid_or_none(user_id)
    if pk is None:
        return None
    user = User.objects.filter(pk=pk, is_active=True).first()
    if user is None or not default_token_generator.check_token(user, token):
        return None
    return user
