"""Every sign-out path ends the session's refresh token, even with a stale access token."""

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.test import Client
from freezegun import freeze_time
from rest_framework.test import APIClient

from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def _cookie_login(user):
    client = APIClient()
    response = client.post(
        "/api/auth/login",
        {"email": user.email, "password": PASSWORD},
        format="json",
    )
    assert response.status_code == 200
    return client, response.json()["session"]


def _refresh_works(refresh_token) -> bool:
    response = APIClient().post(
        "/api/auth/refresh", {"refresh_token": refresh_token}, format="json"
    )
    return response.status_code == 200


def _stale_cookie_client(session, client_class):
    client = client_class()
    client.cookies[settings.AUTH_COOKIE_NAME] = session["access_token"]
    return client


@pytest.mark.parametrize("path", ["/logout/", "/api/auth/logout"])
def test_sign_out_with_an_expired_access_cookie_ends_the_refresh_token(path):
    user = UserFactory(email="stale@example.com")
    _, session = _cookie_login(user)
    # Two hours later the access cookie (1 h) has expired; the refresh token (days) has not.
    with freeze_time(datetime.now(UTC) + timedelta(hours=2)):
        client = _stale_cookie_client(session, Client)
        response = client.post(path)
        assert response.status_code in (200, 302)
        assert not _refresh_works(session["refresh_token"])


def test_a_forged_stale_cookie_ends_nothing():
    user = UserFactory(email="forged@example.com")
    _, session = _cookie_login(user)
    header, payload, _ = session["access_token"].split(".")
    client = Client()
    client.cookies[settings.AUTH_COOKIE_NAME] = f"{header}.{payload}.AAAA"
    client.post("/logout/")
    assert _refresh_works(session["refresh_token"])
