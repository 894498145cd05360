"""A password reset ends every session opened before it, access tokens included (docs/CONTRACT.md §2)."""

from datetime import timedelta

import pytest
from django.conf import settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts import tokens
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _login_with(user, password):
    client = APIClient()
    response = client.post(
        "/api/auth/login",
        {"email": user.email, "password": password, "rememberMe": False},
        format="json",
    )
    assert response.status_code == 200
    return client, response.json()["session"]


def _login(user):
    return _login_with(user, PASSWORD)


def _reset(user, new_password, django_capture_on_commit_callbacks):
    user.refresh_from_db()  # the token is made from last_login, which login just changed
    body = {
        "uid": tokens.password_reset_uid_make(user=user),
        "token": tokens.password_reset_token_make(user=user),
        "new_password": new_password,
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = APIClient().post("/api/auth/password/reset/confirm", body, format="json")
    assert response.status_code == 200


def _token_issued_seconds_ago(user, seconds: int) -> str:
    # Revocation has one-second granularity (``iat`` is whole seconds): a token from the very second
    # of the reset survives, so the "before" token is dated a little earlier.
    refresh = RefreshToken.for_user(user)
    access = refresh.access_token
    access.set_iat(at_time=access.current_time - timedelta(seconds=seconds))
    return str(access)


def test_password_reset_kills_access_tokens_and_cookies_issued_before_it(
    owner, org, django_capture_on_commit_callbacks
):
    # Given an access token and an auth cookie from before the reset (say, of whoever stole the password)
    old = _token_issued_seconds_ago(owner, 5)
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {old}")
    cookie_client = APIClient()
    cookie_client.cookies[settings.AUTH_COOKIE_NAME] = old
    assert bearer.get("/api/auth/session").status_code == 200
    assert cookie_client.get("/api/auth/session").status_code == 200
    # When the owner resets the password
    _reset(owner, "a-brand-New-passw0rd", django_capture_on_commit_callbacks)
    # Then neither authenticates any more
    assert bearer.get("/api/auth/session").status_code == 401
    assert cookie_client.get("/api/auth/session").status_code == 401
    # And a sign-in with the new password works at once, in the same second
    fresh, _ = _login_with(owner, "a-brand-New-passw0rd")
    assert fresh.get("/api/auth/session").status_code == 200


def test_password_reset_leaves_other_users_tokens_alive(
    owner, org, admin_user, django_capture_on_commit_callbacks
):
    _, admin_session = _login(admin_user)
    _reset(owner, "a-brand-New-passw0rd", django_capture_on_commit_callbacks)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {admin_session['access_token']}")
    assert client.get("/api/auth/session").status_code == 200
