"""The one error envelope (docs/CONTRACT.md §9) and how callers are identified (docs/CONTRACT.md §2)."""

from datetime import timedelta

import pytest
from django.test import Client
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

pytestmark = pytest.mark.django_db


def _assert_envelope(response, status: int, code: str):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) >= {"error", "code", "details"}
    assert body["code"] == code
    assert isinstance(body["error"], str) and body["error"]
    return body


def test_unknown_api_path_is_404_envelope_with_rate_limit_headers(anon_client):
    response = anon_client.get("/api/definitely-not-a-route")
    _assert_envelope(response, 404, "NOT_FOUND")
    for header in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
        assert header in response


def test_unknown_api_path_authenticated_is_404_envelope(owner_client):
    _assert_envelope(owner_client.post("/api/nothing/here", {}, format="json"), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    "path",
    [
        "/api/deployments/not-a-uuid",
        "/api/agent-apps/not-a-uuid/webhooks",
        "/api/organizations/members/123",
    ],
)
def test_malformed_id_is_404_envelope(api_key_client, path):
    # Routes take <uuid:…>: a malformed id matches no route, and Django's 404 handler answers with
    # the envelope, rate-limit headers included.
    response = api_key_client.get(path)
    _assert_envelope(response, 404, "NOT_FOUND")
    assert "X-RateLimit-Remaining" in response


def test_method_not_allowed_is_405_envelope(anon_client):
    _assert_envelope(anon_client.get("/api/auth/login"), 405, "METHOD_NOT_ALLOWED")
    _assert_envelope(anon_client.put("/api/health"), 405, "METHOD_NOT_ALLOWED")


def test_malformed_json_is_400_envelope(anon_client, owner_client):
    _assert_envelope(
        anon_client.post("/api/auth/login", "{not json", content_type="application/json"),
        400,
        "VALIDATION_ERROR",
    )
    _assert_envelope(
        owner_client.patch("/api/organizations/current", "[1,", content_type="application/json"),
        400,
        "VALIDATION_ERROR",
    )


def test_json_that_is_not_an_object_is_400(anon_client):
    _assert_envelope(
        anon_client.post("/api/auth/login", "[1, 2]", content_type="application/json"),
        400,
        "VALIDATION_ERROR",
    )


def test_unsupported_media_type_is_envelope(anon_client):
    response = anon_client.post("/api/auth/login", "<xml/>", content_type="application/xml")
    assert response.status_code == 415 and response.json()["code"] == "VALIDATION_ERROR"


def test_validation_error_names_the_field_in_message_and_details(anon_client):
    body = _assert_envelope(
        anon_client.post(
            "/api/auth/signup", {"email": "bad", "password": "a-Long-passw0rd!"}, format="json"
        ),
        400,
        "VALIDATION_ERROR",
    )
    assert "email" in body["details"] and body["error"].startswith("email")


@pytest.mark.urls("tests.api.urls_boom")
@pytest.mark.parametrize("path", ["/api/test-boom-drf", "/api/test-boom-django"])
def test_500_is_internal_error_without_traceback(path):
    client = Client(raise_request_exception=False)
    response = client.get(path)
    body = _assert_envelope(response, 500, "INTERNAL_ERROR")
    text = response.content.decode()
    assert "Traceback" not in text and "secret internals" not in text and "RuntimeError" not in text
    assert body["details"] is None


def test_non_api_404_is_not_json(client):
    response = client.get("/definitely-not-a-page/")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


# --- credentials ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "header", ["Bearer garbage", "Bearer pac_not-a-real-key", "Basic dXNlcjpwYXNz", "Bearer "]
)
def test_bad_authorization_is_401_envelope(org, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/organizations/current")
    _assert_envelope(response, 401, "AUTHENTICATION_FAILED")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_expired_access_token_is_401(owner, org):
    token = AccessToken.for_user(owner)
    token.set_exp(lifetime=-timedelta(seconds=1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    _assert_envelope(client.get("/api/organizations/current"), 401, "AUTHENTICATION_FAILED")


def test_token_signed_with_another_key_is_401(owner, org):
    import jwt

    forged = jwt.encode(
        {"token_type": "access", "user_id": str(owner.id), "jti": "x", "exp": 9999999999},
        "not-our-key",
        algorithm="HS256",
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")
    _assert_envelope(client.get("/api/organizations/current"), 401, "AUTHENTICATION_FAILED")


def test_no_credentials_is_401(anon_client, org):
    _assert_envelope(anon_client.get("/api/organizations/current"), 401, "AUTHENTICATION_FAILED")


def test_dashboard_session_authenticates_api(client, owner, org):
    client.force_login(owner)
    assert client.get("/api/organizations/current").status_code == 200
    # Unsafe requests through a browser session keep Django's CSRF protection.
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(owner)
    response = csrf_client.patch(
        "/api/organizations/current", {"name": "X"}, content_type="application/json"
    )
    _assert_envelope(response, 403, "PERMISSION_DENIED")


def test_deactivated_user_token_is_401(owner, org, owner_client):
    owner.is_active = False
    owner.save()
    _assert_envelope(owner_client.get("/api/organizations/current"), 401, "AUTHENTICATION_FAILED")
