"""Account writes: signup, email verification, sign-in sessions, password reset.

API views and dashboard pages both call these; nothing here knows about HTTP beyond the client
address the login throttle needs.
"""

import logging
import secrets
import time
from datetime import timedelta

import jwt
from django.conf import settings
from django.contrib.auth import authenticate, password_validation
from django.contrib.auth.models import update_last_login
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken, UntypedToken

# The module, not its names: its periodic tasks call this module back (tasks → services →
# tasks), and a module is bound whichever of the two Python imports first.
from accounts import tasks, tokens
from accounts.errors import EmailNotVerified
from accounts.mail_quota import account_mail_allowed
from accounts.models import TokenRevocation, User
from accounts.selectors import user_get_by_email
from accounts.throttle import (
    login_failure_record,
    login_failures_prune,
    login_success_record,
    login_throttle_check,
)
from organizations.services import organization_create
from pixell.db import delete_in_batches
from pixell.errors import AuthenticationFailed, Conflict, ValidationError


def _password_check(*, password: str, user: User) -> None:
    try:
        password_validation.validate_password(password, user)
    except DjangoValidationError as exc:
        raise ValidationError(
            f"password: {exc.messages[0]}", details={"password": exc.messages}
        ) from exc


def user_signup(*, email: str, password: str, organization_name: str | None = None) -> User:
    """A user, their organization (they own it, with the signup bonus) and a verification email.

    All or nothing: a failure anywhere leaves no user, organization or ledger row behind.
    """
    email = User.objects.normalize_email(email).strip().lower()
    if user_get_by_email(email=email) is not None:
        raise Conflict(
            "An account with this email already exists",
            details={"email": ["An account with this email already exists."]},
        )
    user = User(email=email)
    _password_check(password=password, user=user)
    name = (organization_name or "").strip() or f"{email}'s organization"
    try:
        with transaction.atomic():
            user.set_password(password)
            user.save()
            organization_create(name=name[:100], owner=user)
            if settings.PIXELL_EMAIL_VERIFICATION != "none":
                email_verification_send(user=user)
    except IntegrityError as exc:
        # Two signups of the same address raced past the lookup; the unique index decided.
        raise Conflict(
            "An account with this email already exists",
            details={"email": ["An account with this email already exists."]},
        ) from exc
    return user


def email_verification_send(*, user: User) -> None:
    transaction.on_commit(lambda: tasks.email_verification_send_task.delay(str(user.pk)))


def email_verification_resend(*, email: str) -> None:
    """Silently does nothing for unknown or already verified addresses (no account enumeration)."""
    user = user_get_by_email(email=email)
    if (
        user is not None
        and user.is_active
        and not user.email_verified
        and account_mail_allowed(purpose="verification", email=user.email)
    ):
        email_verification_send(user=user)


def email_verify(*, key: str) -> User:
    user = tokens.email_verification_key_read(key)
    if user is None:
        raise ValidationError(
            "Invalid or expired verification key",
            details={"key": ["Invalid or expired verification key."]},
        )
    if not user.email_verified:
        # Conditional update: a double click verifies once and keeps the first timestamp.
        now = timezone.now()
        User.objects.filter(pk=user.pk, email_verified_at__isnull=True).update(
            email_verified_at=now
        )
        user.refresh_from_db(fields=["email_verified_at"])
    return user


def user_authenticate_throttled(*, email: str, password: str, address: str, request=None):
    """The user these credentials name, or None; every sign-in form (API, dashboard, admin) goes
    through here so they share one per-account and per-address lock. Raises RateLimited when
    locked."""
    email = email.strip().lower()
    login_throttle_check(email=email, address=address)
    user = authenticate(request, email=email, password=password)
    if user is None:
        login_failure_record(email=email, address=address)
        return None
    login_success_record(email=email)
    return user


def user_login(*, email: str, password: str, address: str) -> User:
    """The user whose credentials these are. Throttled per account and per address."""
    user = user_authenticate_throttled(email=email, password=password, address=address)
    if user is None:
        raise AuthenticationFailed("Invalid email or password")
    # Checked after the password so that the answer reveals nothing to someone without it.
    if settings.PIXELL_EMAIL_VERIFICATION == "mandatory" and not user.email_verified:
        raise EmailNotVerified()
    update_last_login(None, user)
    return user


def session_issue(*, user: User, remember: bool) -> dict:
    """A new sign-in session: a rotating refresh token and its first access token.

    ``sid`` names the session across refresh rotations (claims survive rotation and are copied into
    access tokens), so logout with only an access token or the cookie can still revoke the
    session's current refresh token.
    """
    refresh = RefreshToken()
    refresh[jwt_settings.USER_ID_CLAIM] = str(user.pk)
    refresh["sid"] = secrets.token_hex(16)
    refresh["remember"] = bool(remember)
    refresh.outstand()
    return _session_payload(refresh)


def _session_payload(refresh: RefreshToken) -> dict:
    return {
        "access_token": str(refresh.access_token),
        "refresh_token": str(refresh),
        "expires_in": int(jwt_settings.ACCESS_TOKEN_LIFETIME.total_seconds()),
        "remember": bool(refresh.get("remember", False)),
    }


def session_refresh(*, refresh_token: str) -> dict:
    """Exchange a refresh token for a new session; the presented one dies (rotation)."""
    try:
        refresh = RefreshToken(refresh_token)  # verifies signature, expiry, type and the blacklist
    except TokenError as exc:
        _refresh_reuse_check(refresh_token)
        raise AuthenticationFailed(
            "Invalid or expired refresh token", details={"refresh_token": [str(exc)]}
        ) from exc
    user = User.objects.filter(pk=refresh.get(jwt_settings.USER_ID_CLAIM), is_active=True).first()
    if user is None:
        raise AuthenticationFailed(
            "Invalid or expired refresh token",
            details={"refresh_token": ["No active account for this token."]},
        )
    reused = False
    with transaction.atomic():
        outstanding, _ = refresh.outstand()
        # The blacklist row is the compare-and-set: of two concurrent refreshes with the same
        # token, exactly one creates it (one-to-one on the token) and the other is refused.
        _, created = BlacklistedToken.objects.get_or_create(token=outstanding)
        if created:
            refresh.set_jti()
            refresh.set_exp()
            refresh.set_iat()
            refresh.outstand()
        else:
            reused = True
    if reused:
        # A rotated refresh token presented again means two parties hold the session (OAuth 2.0
        # Security BCP, refresh token reuse detection): the whole session ends, its successor
        # refresh token and every access token issued in it included.
        session_end(user=user, sid=refresh.get("sid"))
        raise AuthenticationFailed(
            "Refresh token has already been used; the session has been ended",
            details={"refresh_token": ["Token is blacklisted"]},
        )
    return _session_payload(refresh)


def _refresh_reuse_check(raw: str) -> None:
    """A genuine, unexpired refresh token that is already blacklisted was replayed: end its session
    and say so. Anything else (forged, expired, an access token) falls through to the caller's 401."""
    try:
        claims = UntypedToken(raw).payload  # signature and expiry, not the blacklist
    except TokenError:
        return
    if claims.get(jwt_settings.TOKEN_TYPE_CLAIM) != "refresh":
        return
    if not BlacklistedToken.objects.filter(token__jti=claims.get(jwt_settings.JTI_CLAIM)).exists():
        return
    user = User.objects.filter(pk=claims.get(jwt_settings.USER_ID_CLAIM)).first()
    if user is not None:
        session_end(user=user, sid=claims.get("sid"))
    raise AuthenticationFailed(
        "Refresh token has already been used; the session has been ended",
        details={"refresh_token": ["Token is blacklisted"]},
    )


def _revocation_record(key: str, *, seconds: int, not_before: int | None = None) -> None:
    TokenRevocation.objects.update_or_create(
        key=key,
        defaults={
            "not_before": not_before,
            "expires_at": timezone.now() + timedelta(seconds=seconds + 5),
        },
    )


def session_end(*, user: User, sid: str | None) -> None:
    """Ends one sign-in session: its live refresh tokens are blacklisted and every access token
    carrying its session id is refused until the last of them would have expired."""
    if not sid:
        return
    # Access tokens issued by any refresh of this session carry the same sid.
    _revocation_record(f"sid:{sid}", seconds=int(settings.ACCESS_TOKEN_SECONDS))
    for outstanding in _live_refresh_tokens(user=user):
        try:
            claims = UntypedToken(outstanding.token, verify=False).payload
        except TokenError:
            continue
        if claims.get("sid") == sid:
            BlacklistedToken.objects.get_or_create(token=outstanding)


def session_revoke(
    *, user: User | None, access_token: AccessToken | None = None, refresh_token: str | None = None
) -> None:
    """Logout: the access token dies at once (a database denylist row until its expiry) and the
    session's refresh token — named in the body, or found by the access token's session id — is
    blacklisted."""
    if access_token is not None and access_token.get("jti"):
        remaining = int(access_token["exp"] - time.time())
        if remaining > 0:
            _revocation_record(f"jti:{access_token['jti']}", seconds=remaining)
    sid = access_token.get("sid") if access_token is not None else None
    if refresh_token:
        try:
            refresh = RefreshToken(refresh_token)
        except TokenError:
            refresh = None  # already dead: logout still succeeds
        if refresh is not None:
            refresh.blacklist()
            owner = User.objects.filter(pk=refresh.get(jwt_settings.USER_ID_CLAIM)).first()
            if owner is not None and (user is None or owner.pk == user.pk):
                session_end(user=owner, sid=refresh.get("sid"))
    if user is not None and sid:
        session_end(user=user, sid=sid)


def session_end_by_stale_access_token(raw: str | None) -> None:
    """Sign-out with an access token (the auth cookie) that may have expired: its signature is still
    checked, its expiry is not, and the session it names ends. Without this, signing out with an
    hour-old cookie left the session's refresh token alive."""
    if not raw:
        return
    try:
        claims = jwt.decode(
            raw,
            token_backend.get_verifying_key(raw),
            algorithms=[token_backend.algorithm],
            options={"verify_exp": False, "verify_aud": False, "verify_iss": False},
        )
    except jwt.PyJWTError:
        return
    if claims.get(jwt_settings.TOKEN_TYPE_CLAIM) != "access" or not claims.get("sid"):
        return
    user = User.objects.filter(pk=claims.get(jwt_settings.USER_ID_CLAIM)).first()
    if user is not None:
        session_end(user=user, sid=claims["sid"])


def _live_refresh_tokens(*, user: User):
    return OutstandingToken.objects.filter(
        user=user, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
    )


def sessions_revoke_all(*, user: User) -> None:
    """Every session of the user ends: refresh tokens are blacklisted, and access tokens (bearer or
    auth cookie) issued before this second are refused until the last of them would have expired."""
    for outstanding in _live_refresh_tokens(user=user):
        BlacklistedToken.objects.get_or_create(token=outstanding)
    lifetime = int(jwt_settings.ACCESS_TOKEN_LIFETIME.total_seconds())
    # Whole seconds, as ``iat`` is: a token signed in the same second survives, so a sign-in right
    # after the reset is never refused. A database row: it rolls back with a failed reset.
    _revocation_record(f"user:{user.pk}", seconds=lifetime, not_before=int(time.time()))


def security_state_prune() -> int:
    """Deletes revocations whose tokens have all expired and login windows that have ended."""
    expired = TokenRevocation.objects.filter(expires_at__lte=timezone.now()).delete()[0]
    return expired + login_failures_prune()


def password_reset_request(*, email: str) -> None:
    """Emails a reset link when the account exists; answers the same either way."""
    user = user_get_by_email(email=email)
    if (
        user is not None
        and user.is_active
        and account_mail_allowed(purpose="password-reset", email=user.email)
    ):
        transaction.on_commit(lambda: tasks.password_reset_send_task.delay(str(user.pk)))


def password_reset_confirm(*, uid: str, token: str, new_password: str) -> User:
    user = tokens.password_reset_user_read(uid=uid, token=token)
    if user is None:
        raise ValidationError(
            "Invalid or expired password reset link",
            details={"token": ["Invalid or expired password reset link."]},
        )
    try:
        password_validation.validate_password(new_password, user)
    except DjangoValidationError as exc:
        raise ValidationError(
            f"new_password: {exc.messages[0]}", details={"new_password": exc.messages}
        ) from exc
    with transaction.atomic():
        user.set_password(new_password)  # changes the hash the token was made from: single use
        fields = ["password", "updated_at"]
        if not user.email_verified:
            # The link arrived at the address: that proves it as well as a verification link.
            user.email_verified_at = timezone.now()
            fields.append("email_verified_at")
        user.save(update_fields=fields)
        # Whoever knew the old password may hold sessions: end them all.
        sessions_revoke_all(user=user)
    return user


# --- Retention --------------------------------------------------------------------------------


def auth_tokens_purge(*, now=None) -> int:
    """Forget refresh tokens past their expiry, with their blacklist entries (cascade): an
    expired token is refused by its signature's ``exp`` alone, so the rows only grow the tables.
    Bounded batches (pixell.db.delete_in_batches); returns the outstanding tokens removed."""
    removed = delete_in_batches(
        OutstandingToken.objects.filter(expires_at__lt=now or timezone.now()),
        batch_size=settings.PIXELL_RETENTION_BATCH_SIZE,
        max_batches=settings.PIXELL_RETENTION_MAX_BATCHES,
    )
    logging.getLogger(__name__).info(
        "retention: removed %d expired refresh tokens", removed, extra={"removed": removed}
    )
    return removed
