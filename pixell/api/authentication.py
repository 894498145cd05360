"""Who is calling: an API key, a JWT (Bearer header or the auth cookie) or a Django session.

The caller is identified once per request (``identify``): the API middleware needs it for the
rate-limit key before DRF runs, and DRF's authentication class reuses the same result.
"""

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from rest_framework import authentication
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from organizations.keys import API_KEY_PREFIX, api_key_hash
from organizations.models import ApiKey
from organizations.selectors import api_key_get_by_hash
from pixell.api.exceptions import AuthenticationFailed, PermissionDenied

# last_used_at is refreshed at most this often, so an API key costs no write per request.
LAST_USED_GRANULARITY = timedelta(seconds=60)
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}


@dataclass(frozen=True)
class Identity:
    user: User | None
    api_key: ApiKey | None
    via: str  # "api_key" | "bearer" | "cookie" | "session"
    token: AccessToken | None = None


def revoked_jti_cache_key(jti: str) -> str:
    return f"jwt-revoked:{jti}"


def _user_from_access_token(raw: str) -> tuple[User, AccessToken]:
    try:
        token = AccessToken(raw)
    except TokenError as exc:
        raise AuthenticationFailed("Invalid or expired token") from exc
    jti = token.get("jti")
    if jti and cache.get(revoked_jti_cache_key(jti)):
        raise AuthenticationFailed("Token has been revoked")
    user = User.objects.filter(pk=token.get("user_id"), is_active=True).first()
    if user is None:
        raise AuthenticationFailed("Invalid or expired token")
    return user, token


def _api_key_lookup(raw: str) -> ApiKey:
    key = api_key_get_by_hash(key_hash=api_key_hash(raw))
    if key is None:
        raise AuthenticationFailed("Invalid API key or session")
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_GRANULARITY:
        # A conditional update: concurrent requests write at most once per interval.
        ApiKey.all_orgs.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def identify(request) -> Identity | None:
    """Identify the caller of a Django request; cached on the request. Raises AuthenticationFailed
    for presented-but-invalid credentials."""
    cached = getattr(request, "_pixell_identity", _MISSING)
    if cached is not _MISSING:
        if isinstance(cached, AuthenticationFailed):
            raise cached
        return cached
    try:
        identity = _identify(request)
    except AuthenticationFailed as exc:
        request._pixell_identity = exc
        raise
    request._pixell_identity = identity
    return identity


_MISSING = object()


def _identify(request) -> Identity | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        scheme, _, raw = header.partition(" ")
        raw = raw.strip()
        if scheme.lower() != "bearer" or not raw:
            raise AuthenticationFailed("Authorization must be 'Bearer <token or API key>'")
        if raw.startswith(API_KEY_PREFIX):
            key = _api_key_lookup(raw)
            return Identity(user=None, api_key=key, via="api_key")
        user, token = _user_from_access_token(raw)
        return Identity(user=user, api_key=None, via="bearer", token=token)
    cookie = request.COOKIES.get(settings.AUTH_COOKIE_NAME)
    if cookie:
        user, token = _user_from_access_token(cookie)
        return Identity(user=user, api_key=None, via="cookie", token=token)
    session_user = getattr(request, "user", None)
    if session_user is not None and session_user.is_authenticated:
        return Identity(user=session_user, api_key=None, via="session")
    return None


def _origin_allowed(request, origin: str) -> bool:
    parts = urlsplit(origin)
    own = f"{request.scheme}://{request.get_host()}"
    allowed = {own.lower(), settings.PIXELL_PUBLIC_URL.lower(), *(o.lower() for o in settings.CSRF_TRUSTED_ORIGINS)}
    return f"{parts.scheme}://{parts.netloc}".lower() in allowed


class _CSRFCheck(authentication.SessionAuthentication):
    def check(self, request):
        self.enforce_csrf(request)


class PixellAuthentication(authentication.BaseAuthentication):
    """DRF side of ``identify``. ``request.auth`` is the ApiKey for API-key callers."""

    def authenticate(self, request):
        django_request = request._request
        identity = identify(django_request)
        if identity is None:
            return None
        if request.method not in _SAFE_METHODS:
            if identity.via == "cookie":
                origin = django_request.headers.get("Origin")
                if origin and not _origin_allowed(django_request, origin):
                    raise PermissionDenied("Cross-origin request refused")
            elif identity.via == "session":
                # Browser sessions (dashboard, admin) keep Django's CSRF protection.
                _CSRFCheck().check(request)
        request._pixell_identity = identity
        if identity.api_key is not None:
            return (ApiKeyUser(identity.api_key), identity.api_key)
        return (identity.user, identity.token)

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class ApiKeyUser:
    """The request.user of an API-key caller: authenticated, but not a person."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, api_key: ApiKey):
        self.api_key = api_key
        self.pk = None
        self.id = None
        self.email = None

    def __str__(self) -> str:
        return f"API key {self.api_key.key_preview}"
