"""Authentication API (docs/API.md §1, docs/CONTRACT.md §2)."""

import re
import time

import pytest
from django.conf import settings
from django.core import mail
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import User
from accounts.tokens import email_verification_key_make
from billing.models import CreditTransaction
from organizations.models import Membership, Organization, Role
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

UUID_RE = re.compile(r"^[0-9a-f-]{36}$")


def _link(message, prefix: str) -> str:
    match = re.search(re.escape(settings.PIXELL_PUBLIC_URL + prefix) + r"\S+", message.body)
    assert match, message.body
    return match.group(0)


def _signup(client, django_capture_on_commit_callbacks, **body):
    payload = {"email": "new@example.com", "password": "a-Long-passw0rd!", **body}
    with django_capture_on_commit_callbacks(execute=True):
        return client.post("/api/auth/signup", payload, format="json")


# --- signup ---------------------------------------------------------------------------------
def test_signup_creates_user_org_owner_membership_bonus_and_sends_link(
    anon_client, django_capture_on_commit_callbacks
):
    response = _signup(
        anon_client, django_capture_on_commit_callbacks, organizationName="My Company"
    )

    assert response.status_code == 201
    body = response.json()
    assert body == {
        "message": "Please check your email to verify your account",
        "user": {"id": body["user"]["id"], "email": "new@example.com"},
    }
    user = User.objects.get(email="new@example.com")
    membership = Membership.objects.get(user=user)
    assert membership.role == Role.OWNER
    assert membership.organization.name == "My Company"
    assert membership.organization.credits == settings.PIXELL_SIGNUP_CREDITS
    rows = CreditTransaction.objects.for_org(membership.organization)
    assert [(r.type, r.amount, r.balance_after) for r in rows] == [
        ("bonus", settings.PIXELL_SIGNUP_CREDITS, settings.PIXELL_SIGNUP_CREDITS)
    ]
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["new@example.com"]
    link = _link(mail.outbox[0], "/verify-email/")
    assert link.endswith("/")
    assert not user.email_verified


def test_signup_without_organization_name_uses_email(
    anon_client, django_capture_on_commit_callbacks
):
    _signup(anon_client, django_capture_on_commit_callbacks, email="Solo@Example.com")
    user = User.objects.get(email="solo@example.com")
    assert Membership.objects.get(user=user).organization.name == "solo@example.com's organization"


def test_signup_existing_email_is_conflict_case_insensitive(
    anon_client, owner, django_capture_on_commit_callbacks
):
    response = _signup(anon_client, django_capture_on_commit_callbacks, email="OWNER@example.com")
    assert response.status_code == 409
    assert response.json()["code"] == "CONFLICT"
    assert "email" in response.json()["details"]
    assert User.objects.count() == 1 and not mail.outbox


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "password": "a-Long-passw0rd!"}, "email"),
        ({"email": "x@example.com", "password": "short"}, "password"),
        ({"email": "x@example.com", "password": "password123"}, "password"),  # too common
        ({"email": "x@example.com"}, "password"),
        ({"email": 42, "password": "a-Long-passw0rd!"}, "email"),
        ({"email": "x@example.com", "password": ["a"]}, "password"),
        (
            {
                "email": "x@example.com",
                "password": "a-Long-passw0rd!",
                "organizationName": "x" * 101,
            },
            "organizationName",
        ),
        ({"email": "x" * 250 + "@example.com", "password": "a-Long-passw0rd!"}, "email"),
    ],
)
def test_signup_bad_input_names_the_field_and_writes_nothing(anon_client, body, field):
    response = anon_client.post("/api/auth/signup", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert field in response.json()["details"]
    assert not User.objects.exists() and not Organization.objects.exists()


def test_signup_is_atomic(anon_client, monkeypatch):
    import billing.receivers

    def boom(**kwargs):
        raise RuntimeError("ledger down")

    monkeypatch.setattr(billing.receivers, "credits_apply", boom)
    client = APIClient(raise_request_exception=False)
    response = client.post(
        "/api/auth/signup",
        {"email": "a@example.com", "password": "a-Long-passw0rd!"},
        format="json",
    )
    assert response.status_code == 500
    assert response.json()["code"] == "INTERNAL_ERROR"
    assert (
        not User.objects.exists()
        and not Organization.objects.exists()
        and not Membership.objects.exists()
    )


def test_signup_with_verification_none_sends_nothing(
    anon_client, settings, django_capture_on_commit_callbacks
):
    settings.PIXELL_EMAIL_VERIFICATION = "none"
    response = _signup(anon_client, django_capture_on_commit_callbacks)
    assert response.status_code == 201 and not mail.outbox
    login = anon_client.post(
        "/api/auth/login",
        {"email": "new@example.com", "password": "a-Long-passw0rd!"},
        format="json",
    )
    assert login.status_code == 200


# --- verification ---------------------------------------------------------------------------
def test_verification_link_key_verifies_through_the_api(
    anon_client, django_capture_on_commit_callbacks
):
    _signup(anon_client, django_capture_on_commit_callbacks)
    key = _link(mail.outbox[0], "/verify-email/").rstrip("/").rsplit("/", 1)[1]

    response = anon_client.post("/api/auth/verify-email", {"key": key}, format="json")

    assert response.status_code == 200
    assert response.json()["user"]["email"] == "new@example.com"
    assert User.objects.get(email="new@example.com").email_verified
    again = anon_client.post("/api/auth/verify-email", {"key": key}, format="json")
    assert again.status_code == 200  # idempotent


def test_verification_page_verifies(client, django_capture_on_commit_callbacks):
    _signup(APIClient(), django_capture_on_commit_callbacks)
    link = _link(mail.outbox[0], "/verify-email/")
    response = client.get(link.replace(settings.PIXELL_PUBLIC_URL, ""))
    assert response.status_code == 200
    assert b"Email verified" in response.content
    assert User.objects.get(email="new@example.com").email_verified
    assert client.get("/verify-email/garbage/").status_code == 400


def test_verification_key_expires_after_three_days(anon_client, monkeypatch):
    user = UserFactory(email_verified_at=None)
    key = email_verification_key_make(user=user)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 3 * 24 * 3600 + 5)
    response = anon_client.post("/api/auth/verify-email", {"key": key}, format="json")
    assert response.status_code == 400
    assert "key" in response.json()["details"]


def test_verification_key_dies_when_email_changes(anon_client):
    user = UserFactory(email_verified_at=None)
    key = email_verification_key_make(user=user)
    user.email = "changed@example.com"
    user.save()
    assert (
        anon_client.post("/api/auth/verify-email", {"key": key}, format="json").status_code == 400
    )


@pytest.mark.parametrize("key", ["garbage", "", "a:b:c"])
def test_verify_email_bad_key(anon_client, key):
    response = anon_client.post("/api/auth/verify-email", {"key": key}, format="json")
    assert response.status_code == 400 and "key" in response.json()["details"]


def test_resend_verification_always_200(anon_client, django_capture_on_commit_callbacks):
    unverified = UserFactory(email="u@example.com", email_verified_at=None)
    UserFactory(email="v@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        for email in ("u@example.com", "v@example.com", "nobody@example.com"):
            response = anon_client.post(
                "/api/auth/resend-verification", {"email": email}, format="json"
            )
            assert response.status_code == 200
    assert [m.to for m in mail.outbox] == [[unverified.email]]


# --- login ----------------------------------------------------------------------------------
def test_login_seed_shape_tokens_and_session_cookie(anon_client, owner, org):
    response = anon_client.post(
        "/api/auth/login",
        {"email": owner.email, "password": PASSWORD, "rememberMe": False},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"user", "session"}
    assert set(body["user"]) == {"id", "email", "created_at"}
    assert body["user"]["id"] == str(owner.id)
    assert set(body["session"]) == {"access_token", "refresh_token", "expires_in"}
    assert body["session"]["expires_in"] == 3600
    access = AccessToken(body["session"]["access_token"])
    assert access["user_id"] == str(owner.id)
    assert access["exp"] - access["iat"] == 3600
    cookie = response.cookies[settings.AUTH_COOKIE_NAME]
    assert cookie.value == body["session"]["access_token"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert cookie["max-age"] == ""  # a browser-session cookie
    assert not cookie["secure"]  # PIXELL_HTTPS is off in tests


def test_login_remember_me_cookie_lasts_30_days_and_secure_with_https(anon_client, owner, settings):
    settings.PIXELL_HTTPS = True
    response = anon_client.post(
        "/api/auth/login",
        {"email": owner.email, "password": PASSWORD, "rememberMe": True},
        format="json",
        secure=True,
    )
    cookie = response.cookies[settings.AUTH_COOKIE_NAME]
    assert cookie["max-age"] == 30 * 24 * 3600
    assert cookie["secure"]


def test_login_email_is_case_insensitive(anon_client, owner):
    response = anon_client.post(
        "/api/auth/login", {"email": "Owner@Example.COM", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200


@pytest.mark.parametrize("password", ["wrong-password", ""])
def test_login_wrong_password_is_401(anon_client, owner, password):
    response = anon_client.post(
        "/api/auth/login", {"email": owner.email, "password": password}, format="json"
    )
    assert response.status_code in (400, 401)
    assert response.json()["code"] in ("AUTHENTICATION_FAILED", "VALIDATION_ERROR")


def test_login_unknown_email_is_401(anon_client, db):
    response = anon_client.post(
        "/api/auth/login", {"email": "ghost@example.com", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 401 and response.json()["code"] == "AUTHENTICATION_FAILED"


def test_login_unverified_with_mandatory_verification_is_403(anon_client, settings):
    settings.PIXELL_EMAIL_VERIFICATION = "mandatory"
    user = UserFactory(email_verified_at=None)
    response = anon_client.post(
        "/api/auth/login", {"email": user.email, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 403 and response.json()["code"] == "EMAIL_NOT_VERIFIED"
    # The wrong password still says 401: the 403 is only for someone who knows the password.
    wrong = anon_client.post(
        "/api/auth/login", {"email": user.email, "password": "nope-nope"}, format="json"
    )
    assert wrong.status_code == 401


def test_login_unverified_with_optional_verification_is_allowed(anon_client, settings):
    settings.PIXELL_EMAIL_VERIFICATION = "optional"
    user = UserFactory(email_verified_at=None)
    assert (
        anon_client.post(
            "/api/auth/login", {"email": user.email, "password": PASSWORD}, format="json"
        ).status_code
        == 200
    )


def test_login_inactive_user_is_401(anon_client):
    user = UserFactory(is_active=False)
    assert (
        anon_client.post(
            "/api/auth/login", {"email": user.email, "password": PASSWORD}, format="json"
        ).status_code
        == 401
    )


def test_login_throttled_per_account(owner):
    for i in range(10):
        client = APIClient(REMOTE_ADDR=f"10.0.0.{i}")
        assert (
            client.post(
                "/api/auth/login", {"email": owner.email, "password": "wrong-pass"}, format="json"
            ).status_code
            == 401
        )
    # Even the right password is refused now, from a fresh address.
    response = APIClient(REMOTE_ADDR="10.0.1.1").post(
        "/api/auth/login", {"email": owner.email, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 429
    assert response.json()["code"] == "RATE_LIMITED"
    assert 0 < int(response["Retry-After"]) <= 15 * 60


def test_login_throttled_per_address(db):
    client = APIClient(REMOTE_ADDR="10.9.9.9")
    for i in range(10):
        client.post(
            "/api/auth/login",
            {"email": f"guess{i}@example.com", "password": "wrong-pass"},
            format="json",
        )
    response = client.post(
        "/api/auth/login", {"email": "another@example.com", "password": "x"}, format="json"
    )
    assert response.status_code == 429 and "Retry-After" in response


def test_login_success_resets_the_account_counter(owner):
    client = APIClient(REMOTE_ADDR="10.1.1.1")
    for _ in range(9):
        client.post(
            "/api/auth/login", {"email": owner.email, "password": "wrong-pass"}, format="json"
        )
    assert (
        client.post(
            "/api/auth/login", {"email": owner.email, "password": PASSWORD}, format="json"
        ).status_code
        == 200
    )
    other = APIClient(REMOTE_ADDR="10.1.1.2")
    for _ in range(9):
        other.post(
            "/api/auth/login", {"email": owner.email, "password": "wrong-pass"}, format="json"
        )
    assert (
        other.post(
            "/api/auth/login", {"email": owner.email, "password": PASSWORD}, format="json"
        ).status_code
        == 200
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": "x"}, "email"),
        ({"email": "a@example.com"}, "password"),
        ({"email": "a@example.com", "password": "x", "rememberMe": "maybe"}, "rememberMe"),
    ],
)
def test_login_bad_input(anon_client, db, body, field):
    response = anon_client.post("/api/auth/login", body, format="json")
    assert response.status_code == 400 and field in response.json()["details"]


def _login(owner, remember=False):
    client = APIClient()
    response = client.post(
        "/api/auth/login",
        {"email": owner.email, "password": PASSWORD, "rememberMe": remember},
        format="json",
    )
    assert response.status_code == 200
    return client, response.json()["session"]


# --- cookie auth --------------------------------------------------------------------------
def test_cookie_authenticates_get(owner, org):
    client, _ = _login(owner)
    response = client.get("/api/auth/session")
    assert response.status_code == 200
    assert response.json()["user"]["email"] == owner.email


def test_cookie_unsafe_request_with_foreign_origin_is_403(owner, org):
    client, _ = _login(owner)
    response = client.patch(
        "/api/organizations/current",
        {"name": "X"},
        format="json",
        HTTP_ORIGIN="https://evil.example",
    )
    assert response.status_code == 403 and response.json()["code"] == "PERMISSION_DENIED"
    Organization.objects.get(pk=org.pk, name="Acme")
    same = client.patch(
        "/api/organizations/current", {"name": "X"}, format="json", HTTP_ORIGIN="http://testserver"
    )
    assert same.status_code == 200


# --- refresh ------------------------------------------------------------------------------
def test_refresh_rotates_and_a_used_token_is_dead(owner, org):
    _, session = _login(owner)
    client = APIClient()
    response = client.post(
        "/api/auth/refresh", {"refresh_token": session["refresh_token"]}, format="json"
    )
    assert response.status_code == 200
    new = response.json()["session"]
    assert set(new) == {"access_token", "refresh_token", "expires_in"}
    assert new["refresh_token"] != session["refresh_token"]
    assert AccessToken(new["access_token"])["user_id"] == str(owner.id)

    reused = client.post(
        "/api/auth/refresh", {"refresh_token": session["refresh_token"]}, format="json"
    )
    assert reused.status_code == 401 and reused.json()["code"] == "AUTHENTICATION_FAILED"


def test_replaying_a_rotated_refresh_token_ends_the_whole_session(owner, org):
    # Reuse detection (OAuth 2.0 Security BCP): one of the two holders is a thief, so the session
    # ends — the successor refresh token and every access token issued in the session.
    _, session = _login(owner)
    client = APIClient()
    new = client.post(
        "/api/auth/refresh", {"refresh_token": session["refresh_token"]}, format="json"
    ).json()["session"]
    other_session = _login(owner)[1]  # another sign-in of the same user is not touched

    reused = client.post(
        "/api/auth/refresh", {"refresh_token": session["refresh_token"]}, format="json"
    )
    assert reused.status_code == 401 and "session has been ended" in reused.json()["error"]
    successor = client.post(
        "/api/auth/refresh", {"refresh_token": new["refresh_token"]}, format="json"
    )
    assert successor.status_code == 401
    for access in (session["access_token"], new["access_token"]):
        bearer = APIClient()
        bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
        assert bearer.get("/api/auth/session").status_code == 401
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {other_session['access_token']}")
    assert bearer.get("/api/auth/session").status_code == 200
    assert (
        client.post(
            "/api/auth/refresh", {"refresh_token": other_session["refresh_token"]}, format="json"
        ).status_code
        == 200
    )


@pytest.mark.parametrize("token", ["garbage", ""])
def test_refresh_garbage_is_401(anon_client, db, token):
    response = anon_client.post("/api/auth/refresh", {"refresh_token": token}, format="json")
    assert response.status_code in (400, 401)


def test_refresh_of_a_deactivated_user_is_401(owner, org):
    _, session = _login(owner)
    User.objects.filter(pk=owner.pk).update(is_active=False)
    assert (
        APIClient()
        .post("/api/auth/refresh", {"refresh_token": session["refresh_token"]}, format="json")
        .status_code
        == 401
    )


def test_refresh_with_an_access_token_is_401(owner, org):
    _, session = _login(owner)
    assert (
        APIClient()
        .post("/api/auth/refresh", {"refresh_token": session["access_token"]}, format="json")
        .status_code
        == 401
    )


# --- logout -------------------------------------------------------------------------------
def test_logout_clears_cookie_and_kills_tokens_at_once(owner, org):
    client, session = _login(owner)
    response = client.post("/api/auth/logout")
    assert response.status_code == 200
    assert response.json() == {"message": "Logged out successfully"}
    assert response.cookies[settings.AUTH_COOKIE_NAME].value == ""
    # The access token presented in any form is dead, and the session's refresh token too,
    # although the body did not name it.
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {session['access_token']}")
    assert bearer.get("/api/auth/session").status_code == 401
    cookie_client = APIClient()
    cookie_client.cookies[settings.AUTH_COOKIE_NAME] = session["access_token"]
    assert cookie_client.get("/api/auth/session").status_code == 401
    assert (
        APIClient()
        .post("/api/auth/refresh", {"refresh_token": session["refresh_token"]}, format="json")
        .status_code
        == 401
    )


def test_logout_revokes_the_refresh_token_in_the_body(owner, org):
    _, session = _login(owner)
    response = APIClient().post(
        "/api/auth/logout", {"refresh_token": session["refresh_token"]}, format="json"
    )
    assert response.status_code == 200
    assert (
        APIClient()
        .post("/api/auth/refresh", {"refresh_token": session["refresh_token"]}, format="json")
        .status_code
        == 401
    )


def test_logout_after_refresh_revokes_the_rotated_refresh_token(owner, org):
    _, session = _login(owner)
    new = (
        APIClient()
        .post("/api/auth/refresh", {"refresh_token": session["refresh_token"]}, format="json")
        .json()["session"]
    )
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {new['access_token']}")
    assert bearer.post("/api/auth/logout").status_code == 200
    assert (
        APIClient()
        .post("/api/auth/refresh", {"refresh_token": new["refresh_token"]}, format="json")
        .status_code
        == 401
    )


def test_logout_kills_access_tokens_of_earlier_refreshes_of_the_session(owner, org):
    _, session = _login(owner)
    new = (
        APIClient()
        .post("/api/auth/refresh", {"refresh_token": session["refresh_token"]}, format="json")
        .json()["session"]
    )
    earlier = APIClient()
    earlier.credentials(HTTP_AUTHORIZATION=f"Bearer {session['access_token']}")
    assert earlier.get("/api/auth/session").status_code == 200
    latest = APIClient()
    latest.credentials(HTTP_AUTHORIZATION=f"Bearer {new['access_token']}")
    assert latest.post("/api/auth/logout").status_code == 200
    assert earlier.get("/api/auth/session").status_code == 401


def test_logout_leaves_other_sessions_alive(owner, org):
    client, _ = _login(owner)
    _, other_session = _login(owner)
    client.post("/api/auth/logout")
    assert (
        APIClient()
        .post("/api/auth/refresh", {"refresh_token": other_session["refresh_token"]}, format="json")
        .status_code
        == 200
    )
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {other_session['access_token']}")
    assert other.get("/api/auth/session").status_code == 200


def test_logout_with_garbage_still_succeeds(anon_client, db):
    anon_client.cookies[settings.AUTH_COOKIE_NAME] = "garbage"
    response = anon_client.post("/api/auth/logout", {"refresh_token": "garbage"}, format="json")
    assert response.status_code == 200


def test_logout_by_cookie_from_foreign_origin_is_refused(owner, org):
    client, _ = _login(owner)
    assert client.post("/api/auth/logout", HTTP_ORIGIN="https://evil.example").status_code == 403
    assert client.get("/api/auth/session").status_code == 200


# --- session ------------------------------------------------------------------------------
def test_session_seed_shape(owner_client, owner, org):
    response = owner_client.get("/api/auth/session")
    assert response.status_code == 200
    assert response.json() == {
        "user": {"id": str(owner.id), "email": owner.email},
        "organization": {"id": str(org.id), "name": "Acme", "credits": org.credits},
    }


def test_session_follows_x_organization_id(owner, org, other_org):
    from tests.conftest import client_for

    response = client_for(owner, org=other_org).get("/api/auth/session")
    assert response.status_code == 404


def test_session_without_organization(db):
    from tests.conftest import client_for

    user = UserFactory()
    assert client_for(user).get("/api/auth/session").json()["organization"] is None


def test_session_needs_authentication(anon_client, db):
    response = anon_client.get("/api/auth/session")
    assert response.status_code == 401 and response.json()["code"] == "AUTHENTICATION_FAILED"


def test_session_refuses_api_keys(api_key_client):
    assert api_key_client.get("/api/auth/session").status_code == 403


# --- password reset -----------------------------------------------------------------------
def _reset_link(anon_client, email, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = anon_client.post("/api/auth/password/reset", {"email": email}, format="json")
    assert response.status_code == 200
    return _link(mail.outbox[-1], "/reset-password/")


def test_password_reset_flow_single_use(
    anon_client, owner, org, django_capture_on_commit_callbacks
):
    _, session = _login(owner)
    link = _reset_link(anon_client, owner.email, django_capture_on_commit_callbacks)
    uid, token = link.rstrip("/").split("/")[-2:]
    body = {"uid": uid, "token": token, "new_password": "a-brand-New-passw0rd"}

    response = anon_client.post("/api/auth/password/reset/confirm", body, format="json")

    assert response.status_code == 200
    assert (
        anon_client.post(
            "/api/auth/login",
            {"email": owner.email, "password": "a-brand-New-passw0rd"},
            format="json",
        ).status_code
        == 200
    )
    again = anon_client.post(
        "/api/auth/password/reset/confirm",
        {**body, "new_password": "another-New-passw0rd"},
        format="json",
    )
    assert again.status_code == 400 and "token" in again.json()["details"]
    # Sessions opened with the old password end.
    assert (
        APIClient()
        .post("/api/auth/refresh", {"refresh_token": session["refresh_token"]}, format="json")
        .status_code
        == 401
    )


def test_password_reset_unknown_email_is_200_and_sends_nothing(
    anon_client, db, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            anon_client.post(
                "/api/auth/password/reset", {"email": "ghost@example.com"}, format="json"
            ).status_code
            == 200
        )
    assert not mail.outbox


def test_password_reset_confirm_validates_password(
    anon_client, owner, django_capture_on_commit_callbacks
):
    uid, token = (
        _reset_link(anon_client, owner.email, django_capture_on_commit_callbacks)
        .rstrip("/")
        .split("/")[-2:]
    )
    response = anon_client.post(
        "/api/auth/password/reset/confirm",
        {"uid": uid, "token": token, "new_password": "123"},
        format="json",
    )
    assert response.status_code == 400 and "new_password" in response.json()["details"]


@pytest.mark.parametrize("uid", ["garbage", "", "!!!"])
def test_password_reset_confirm_bad_uid(anon_client, db, uid):
    response = anon_client.post(
        "/api/auth/password/reset/confirm",
        {"uid": uid, "token": "x", "new_password": "a-Long-passw0rd!"},
        format="json",
    )
    assert response.status_code == 400


def test_password_reset_page(client, owner, django_capture_on_commit_callbacks):
    link = _reset_link(APIClient(), owner.email, django_capture_on_commit_callbacks)
    path = link.replace(settings.PIXELL_PUBLIC_URL, "")
    assert client.get(path).status_code == 200
    mismatch = client.post(
        path, {"new_password": "a-brand-New-passw0rd", "new_password_again": "different-passw0rd"}
    )
    assert mismatch.status_code == 400
    done = client.post(
        path, {"new_password": "a-brand-New-passw0rd", "new_password_again": "a-brand-New-passw0rd"}
    )
    assert done.status_code == 200 and b"Password changed" in done.content
    owner.refresh_from_db()
    assert owner.check_password("a-brand-New-passw0rd")
    assert client.get(path).status_code == 400  # used


def test_refresh_token_from_for_user_still_works(owner, org):
    # Tokens minted by simplejwt's own helpers (tests, tools) are accepted too.
    token = RefreshToken.for_user(owner)
    assert (
        APIClient()
        .post("/api/auth/refresh", {"refresh_token": str(token)}, format="json")
        .status_code
        == 200
    )


def test_login_from_another_sites_page_is_refused(anon_client, owner):
    body = {"email": owner.email, "password": PASSWORD}
    foreign = anon_client.post(
        "/api/auth/login", body, HTTP_ORIGIN="https://evil.example", format="multipart"
    )
    assert foreign.status_code == 403 and foreign.json()["code"] == "PERMISSION_DENIED"
    assert "pixell-auth-token" not in foreign.cookies
    own = anon_client.post("/api/auth/login", body, HTTP_ORIGIN="http://testserver", format="json")
    assert own.status_code == 200
    assert (
        anon_client.post("/api/auth/login", body, format="json").status_code == 200
    )  # API clients send no Origin
