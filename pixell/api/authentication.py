"""Who is calling: an API key, a JWT (Bearer header or the auth cookie) or a Django session.

The caller is identified once per request (``identify``): the API middleware needs it for the
rate-limit key before DRF runs, and DRF's authentication class reuses the same result.
"""

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from rest_framework import authentication
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from accounts.selectors import access_token_user
from organizations.keys import API_KEY_PREFIX, api_key_hash
from organizations.models import ApiKey
from organizations.selectors import (
    api_key_from_snapshot,
    api_key_get_by_hash,
    api_key_snapshot,
    api_key_snapshot_with,
)
from organizations.versions import organization_version, organization_version_key
from pixell.errors import AuthenticationFailed, PermissionDenied

# last_used_at is refreshed at most this often, so an API key costs no write per request.
LAST_USED_GRANULARITY = timedelta(seconds=60)
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}


@dataclass(frozen=True)
class Identity:
    user: User | None
    api_key: ApiKey | None
    via: str  # "api_key" | "bearer" | "cookie" | "session"
    token: AccessToken | None = None


def _user_from_access_token(raw: str) -> tuple[User, AccessToken]:
    try:
        token = AccessToken(raw)
    except TokenError as exc:
        raise AuthenticationFailed("Invalid or expired token") from exc
    # One query reads the user and every denylist: the token's own and its session's (logout,
    # refresh-token reuse) and its user's (password reset). They are database rows, not cache
    # entries, so no traffic can evict them (docs/DECISIONS.md "Security state in the database").
    try:
        user = access_token_user(
            user_id=token.get("user_id"), jti=token.get("jti"), sid=token.get("sid")
        )
    except (ValueError, DjangoValidationError):
        user = None  # a signed token naming no valid user id
    if user is None:
        raise AuthenticationFailed("Invalid or expired token")
    if user._token_revoked:
        raise AuthenticationFailed("Token has been revoked")
    if user._not_before is not None and int(token.get("iat", 0)) < user._not_before:
        raise AuthenticationFailed("Token has been revoked")
    return user, token


def _api_key_lookup(raw: str) -> ApiKey:
    return _api_key_load(api_key_hash(raw))


def _api_key_load(key_hash: str) -> ApiKey:
    """Read the key (and organization) after taking the organization's version token, so the copy
    remembered is valid for that token: a change committed after the read replaces the token."""
    found = api_key_get_by_hash(key_hash=key_hash)
    token = organization_version(found.organization_id) if found is not None else None
    key = api_key_get_by_hash(key_hash=key_hash) if found is not None else None
    if key is None:
        raise AuthenticationFailed("Invalid API key or session")
    _KEYS.remember(key_hash, key, token)
    _touch_last_used(key_hash, key)
    return key


def _touch_last_used(key_hash: str, key: ApiKey) -> None:
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_GRANULARITY:
        # A conditional update: concurrent requests write at most once per interval.
        ApiKey.all_orgs.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
        _KEYS.touch(key_hash, now)


class _ApiKeyCache:
    """Per-process copies of API keys with their organization (see ``api_key_fast_path``).

    Holds plain field values, not model instances: every request gets its own fresh objects, so no
    request can change another's. Bounded in size and in age (a safety net behind the tokens).
    """

    def __init__(self, max_entries: int = 10_000, max_age: float = 60.0):
        self.max_entries, self.max_age = max_entries, max_age
        self._entries: OrderedDict[str, tuple] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, key_hash: str, key: ApiKey, token: str | None) -> None:
        if token is None:
            return
        entry = (api_key_snapshot(key), token, time.monotonic())
        with self._lock:
            self._entries[key_hash] = entry
            self._entries.move_to_end(key_hash)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def get(self, key_hash: str) -> tuple[tuple, str] | None:
        entry = self._entries.get(key_hash)
        if entry is None or time.monotonic() - entry[2] > self.max_age:
            return None
        return entry[0], entry[1]

    def touch(self, key_hash: str, last_used_at) -> None:
        with self._lock:
            entry = self._entries.get(key_hash)
            if entry is not None:
                snapshot, token, loaded = entry
                self._entries[key_hash] = (
                    api_key_snapshot_with(snapshot, last_used_at=last_used_at),
                    token,
                    loaded,
                )

    def forget(self, key_hash: str) -> None:
        with self._lock:
            self._entries.pop(key_hash, None)


_KEYS = _ApiKeyCache()


@dataclass(frozen=True)
class ApiKeyFastPath:
    """An API-key request whose key this process has seen: its identity is confirmed by the
    organization's token, read in the same round trip as the rate limit (ApiMiddleware)."""

    key_hash: str
    key: ApiKey
    token: str

    @property
    def version_key(self) -> str:
        return organization_version_key(self.key.organization_id)

    @property
    def identity(self) -> "Identity":
        return Identity(user=None, api_key=self.key, via="api_key")


def api_key_fast_path(request) -> ApiKeyFastPath | None:
    """The remembered key of an API-key request, or None (not an API key, or not remembered)."""
    scheme, _, raw = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or not raw.startswith(API_KEY_PREFIX):
        return None
    key_hash = api_key_hash(raw)
    entry = _KEYS.get(key_hash)
    if entry is None:
        return None
    snapshot, token = entry
    return ApiKeyFastPath(key_hash=key_hash, key=api_key_from_snapshot(snapshot), token=token)


def api_key_fast_path_confirm(request, fast: ApiKeyFastPath, current_token) -> bool:
    """Trust the remembered key when its organization's token is unchanged; else forget it (the
    caller then identifies the request the slow way, from the database)."""
    if current_token is None or current_token != fast.token:
        _KEYS.forget(fast.key_hash)
        return False
    _touch_last_used(fast.key_hash, fast.key)
    request._pixell_identity = fast.identity
    return True


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
    allowed = {
        own.lower(),
        settings.PIXELL_PUBLIC_URL.lower(),
        *(o.lower() for o in settings.CSRF_TRUSTED_ORIGINS),
    }
    return f"{parts.scheme}://{parts.netloc}".lower() in allowed


def refuse_foreign_origin(request) -> None:
    """403 when a browser says the request comes from another site's page.

    For requests that ride on (or set) the auth cookie: API clients and the Kit send no Origin.
    """
    origin = request.headers.get("Origin")
    if origin and not _origin_allowed(request, origin):
        raise PermissionDenied("Cross-origin request refused")


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
                refuse_foreign_origin(django_request)
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
