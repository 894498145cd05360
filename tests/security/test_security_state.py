"""Revocations and login locks survive cache eviction (docs/DECISIONS.md "Security state in the
database"): a flood of anonymous traffic from a thousand addresses, with a cache that evicts, leaves
every logged-out token, reset session and locked account as it was."""

import time

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.services import sessions_revoke_all
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

# A small evicting cache stands in for a full one: Django's local-memory cache culls a third of its
# entries whenever it is full, as the embedded file cache does.
SMALL_CACHE = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "security-state-flood",
        "OPTIONS": {"MAX_ENTRIES": 50, "CULL_FREQUENCY": 2},
    }
}


def _login(email, password=PASSWORD, address="10.9.0.1"):
    return APIClient(REMOTE_ADDR=address).post(
        "/api/auth/login", {"email": email, "password": password}, format="json"
    )


def _session(user):
    response = _login(user.email)
    assert response.status_code == 200, response.content
    return response.json()["session"]


def _works(access_token) -> bool:
    client = APIClient(REMOTE_ADDR="10.9.0.2")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token}")
    return client.get("/api/auth/session").status_code == 200


@override_settings(CACHES=SMALL_CACHE, PIXELL_RATE_LIMIT_ANONYMOUS="100000/h")
def test_a_flood_from_a_thousand_addresses_evicts_no_security_state(settings):
    settings.PIXELL_LOGIN_MAX_FAILURES = 3
    logged_out = UserFactory(email="logged-out@example.com")
    reset = UserFactory(email="reset@example.com")
    locked = UserFactory(email="locked@example.com")

    session = _session(logged_out)
    assert _works(session["access_token"])
    client = APIClient(REMOTE_ADDR="10.9.0.3")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {session['access_token']}")
    assert client.post("/api/auth/logout").status_code == 200

    reset_session = _session(reset)
    time.sleep(1.05)  # iat is whole seconds; a token of the reset's own second survives by design
    sessions_revoke_all(user=reset)

    for n in range(3):
        assert _login(locked.email, "wrong-password", f"10.8.0.{n}").status_code == 401
    assert _login(locked.email, address="10.8.1.1").status_code == 429

    assert not _works(session["access_token"]) and not _works(reset_session["access_token"])

    flood = APIClient()
    for n in range(1000):
        flood.get("/api/unknown", REMOTE_ADDR=f"2001:db8::{n:x}")

    assert not _works(session["access_token"]), "a logged-out token came back"
    assert not _works(reset_session["access_token"]), "a reset session came back"
    refresh = APIClient().post(
        "/api/auth/refresh", {"refresh_token": session["refresh_token"]}, format="json"
    )
    assert refresh.status_code == 401
    assert _login(locked.email, address="10.8.1.2").status_code == 429, "a login lock was lifted"


def test_expired_security_state_is_pruned():
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import LoginFailure, TokenRevocation
    from accounts.tasks import security_state_prune_task

    past, future = timezone.now() - timedelta(seconds=1), timezone.now() + timedelta(hours=1)
    TokenRevocation.objects.create(key="jti:old", expires_at=past)
    TokenRevocation.objects.create(key="jti:live", expires_at=future)
    LoginFailure.objects.create(key="ip:old", count=3, window_started_at=0, expires_at=past)
    LoginFailure.objects.create(key="ip:live", count=3, window_started_at=0, expires_at=future)
    assert security_state_prune_task() == 2
    assert list(TokenRevocation.objects.values_list("key", flat=True)) == ["jti:live"]
    assert list(LoginFailure.objects.values_list("key", flat=True)) == ["ip:live"]
