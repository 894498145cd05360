"""Account reads."""

from django.db.models import BooleanField, Exists, Subquery, Value
from django.utils import timezone

from accounts.models import TokenRevocation, User


def user_get_by_email(*, email: str) -> User | None:
    return User.objects.filter(email__iexact=(email or "").strip()).first()


def access_token_user(*, user_id, jti: str | None, sid: str | None) -> User | None:
    """The active user an access token names, with its revocation state, in ONE query (the JWT
    request path): ``user._token_revoked`` (the token or its session was signed out) and
    ``user._not_before`` (a password reset: tokens issued before this Unix second are dead)."""
    now = timezone.now()
    keys = [f"jti:{jti}" for _ in [jti] if jti] + [f"sid:{sid}" for _ in [sid] if sid]
    live = TokenRevocation.objects.filter(expires_at__gt=now)
    not_before = live.filter(key=f"user:{user_id}").values("not_before")[:1]
    return (
        User.objects.filter(pk=user_id, is_active=True)
        .annotate(
            _token_revoked=Exists(live.filter(key__in=keys)) if keys else _false(),
            _not_before=Subquery(not_before),
        )
        .first()
    )


def _false():
    return Value(False, output_field=BooleanField())
