"""Rate limits on every /api response (docs/CONTRACT.md §9)."""

import time

import pytest
from rest_framework.test import APIClient

from tests.conftest import client_for
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def one_window(monkeypatch):
    """Windows are fixed (they roll over on the minute): a test that counts within one must not
    straddle a boundary, so the limiter's clock stands still, a second into a coming hour."""
    from types import SimpleNamespace

    from pixell.api import ratelimit

    now = int(time.time())
    pinned = now - now % 3600 + 3601
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: pinned))


def test_headers_on_success_and_error_responses(owner_client, anon_client):
    for response in (
        owner_client.get("/api/organizations/current"),
        owner_client.get("/api/unknown"),
        anon_client.get("/api/organizations/current"),
        anon_client.post("/api/auth/login", "{", content_type="application/json"),
    ):
        assert int(response["X-RateLimit-Limit"]) > 0
        assert int(response["X-RateLimit-Remaining"]) >= 0
        assert int(response["X-RateLimit-Reset"]) >= int(time.time())


def test_anonymous_limit_429_with_retry_after(settings):
    settings.PIXELL_RATE_LIMIT_ANONYMOUS = "3/m"
    client = APIClient(REMOTE_ADDR="10.2.2.2")
    remaining = [int(client.get("/api/unknown")["X-RateLimit-Remaining"]) for _ in range(3)]
    assert remaining == [2, 1, 0]
    response = client.get("/api/organizations/current")
    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "RATE_LIMITED" and set(body) >= {"error", "code", "details"}
    assert 0 < int(response["Retry-After"]) <= 60
    assert response["X-RateLimit-Remaining"] == "0"
    # Another address has its own bucket.
    assert APIClient(REMOTE_ADDR="10.2.2.3").get("/api/unknown").status_code == 404


def test_authenticated_counted_per_user_and_per_key(settings, owner, org, api_key):
    settings.PIXELL_RATE_LIMIT_AUTHENTICATED = "2/m"
    settings.PIXELL_RATE_LIMIT_ANONYMOUS = "1000/m"
    user_client = client_for(owner)
    assert user_client.get("/api/organizations/current")["X-RateLimit-Limit"] == "2"
    user_client.get("/api/organizations/current")
    assert user_client.get("/api/organizations/current").status_code == 429
    # The same user from another client (another token) shares the bucket.
    assert client_for(owner).get("/api/organizations/current").status_code == 429
    # The organization's API key and other users are separate callers.
    assert client_for(api_key=api_key.raw).get("/api/organizations/current").status_code == 200
    other = MembershipFactory(organization=org).user
    assert client_for(other).get("/api/organizations/current").status_code == 200


def test_anonymous_rate_applies_to_auth_endpoints(settings, db):
    settings.PIXELL_RATE_LIMIT_ANONYMOUS = "2/m"
    client = APIClient(REMOTE_ADDR="10.3.3.3")
    for _ in range(2):
        client.post("/api/auth/password/reset", {"email": "a@example.com"}, format="json")
    assert (
        client.post(
            "/api/auth/password/reset", {"email": "a@example.com"}, format="json"
        ).status_code
        == 429
    )
