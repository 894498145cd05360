"""/login/, /logout/, /signup/, /password-reset/, /resend-verification/: the API's account services
behind forms (same throttle, same verification rule, no account enumeration)."""

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.test import Client

from accounts.models import User
from organizations.models import Membership, Role
from tests.dashboard.conftest import session_client
from tests.factories import PASSWORD, UserFactory


def _login(client, email, password=PASSWORD, **extra):
    return client.post("/login/", {"email": email, "password": password, **extra})


def test_login_page_renders_with_links_to_sign_up_and_reset(anon_page, db):
    response = anon_page.get("/login/")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'action="/login/"' in html and "csrfmiddlewaretoken" in html
    assert 'href="/signup/"' in html and 'href="/password-reset/"' in html


def test_login_signs_in_and_goes_to_the_overview(owner, org):
    client = Client()
    response = _login(client, owner.email.upper())  # emails are case-insensitive, like the API
    assert response.status_code == 302 and response["Location"] == "/dashboard/"
    assert client.get("/dashboard/").status_code == 200
    assert (
        client.session.get_expire_at_browser_close()
    )  # no "keep me signed in": a browser-session cookie


def test_keep_me_signed_in_makes_a_30_day_session(owner, org):
    client = Client()
    _login(client, owner.email, remember="1")
    assert not client.session.get_expire_at_browser_close()
    assert client.session.get_expiry_age() == django_settings.REMEMBER_ME_SECONDS


def test_login_follows_next_but_only_to_our_own_pages(owner, org):
    assert (
        _login(Client(), owner.email, next="/dashboard/usage/")["Location"] == "/dashboard/usage/"
    )
    assert _login(Client(), owner.email, next="https://evil.example/")["Location"] == "/dashboard/"
    assert _login(Client(), owner.email, next="//evil.example/")["Location"] == "/dashboard/"


def test_wrong_password_is_a_form_error(owner, org):
    response = _login(Client(), owner.email, password="nope")
    assert response.status_code == 401
    assert "Invalid email or password" in response.content.decode()
    assert 'value="owner@example.com"' in response.content.decode()  # the email is kept


def test_login_uses_the_api_throttle(owner, org, settings):
    settings.PIXELL_LOGIN_MAX_FAILURES = 3
    client = Client()
    for _ in range(3):
        assert _login(client, owner.email, password="nope").status_code == 401
    response = _login(client, owner.email)  # even the right password, while throttled
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Too many failed login attempts" in response.content.decode()
    # The same counters as POST /api/auth/login: the API refuses too.
    api = client.post(
        "/api/auth/login",
        {"email": owner.email, "password": PASSWORD},
        content_type="application/json",
    )
    assert api.status_code == 429


def test_unverified_email_is_refused_with_a_resend_form(
    db, settings, django_capture_on_commit_callbacks
):
    settings.PIXELL_EMAIL_VERIFICATION = "mandatory"
    user = UserFactory(email="new@example.com", email_verified_at=None)
    response = _login(Client(), user.email)
    html = response.content.decode()
    assert response.status_code == 403
    assert "verify your email" in html and 'action="/resend-verification/"' in html

    with django_capture_on_commit_callbacks(execute=True):
        resent = Client().post("/resend-verification/", {"email": user.email})
    assert resent.status_code == 200 and "is on its way" in resent.content.decode()
    assert len(mail.outbox) == 1 and "/verify-email/" in mail.outbox[0].body


def test_optional_verification_lets_unverified_users_in(db, settings):
    settings.PIXELL_EMAIL_VERIFICATION = "optional"
    user = UserFactory(email_verified_at=None)
    assert _login(Client(), user.email).status_code == 302


def test_resend_verification_does_not_reveal_accounts(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post("/resend-verification/", {"email": "nobody@example.com"})
    assert response.status_code == 200 and "is on its way" in response.content.decode()
    assert mail.outbox == []


def test_logout_is_a_post_that_ends_the_session(owner_page):
    assert owner_page.get("/logout/").status_code == 405
    response = owner_page.post("/logout/")
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert owner_page.get("/dashboard/").status_code == 302


def test_logout_needs_the_csrf_token(owner):
    client = session_client(owner, enforce_csrf_checks=True)
    assert client.post("/logout/").status_code == 403
    assert client.get("/dashboard/").status_code == 200  # still signed in


def test_logout_also_ends_an_api_cookie_session(owner, org):
    client = Client()
    client.post(
        "/api/auth/login",
        {"email": owner.email, "password": PASSWORD},
        content_type="application/json",
    )
    access = client.cookies[django_settings.AUTH_COOKIE_NAME].value
    response = client.post("/logout/")
    assert response.cookies[django_settings.AUTH_COOKIE_NAME].value == ""  # cleared
    assert client.get("/dashboard/").status_code == 302
    # The token itself is revoked, not just forgotten by this browser.
    api = Client().get("/api/auth/session", HTTP_AUTHORIZATION=f"Bearer {access}")
    assert api.status_code == 401


def test_signup_creates_the_account_and_asks_to_check_email(
    db, settings, django_capture_on_commit_callbacks
):
    settings.PIXELL_EMAIL_VERIFICATION = "mandatory"
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post(
            "/signup/",
            {
                "email": "Ann@Example.com",
                "password": "a-long-enough-password",
                "organizationName": "Ann Co",
            },
        )
    assert response.status_code == 200
    assert "Check your email" in response.content.decode()
    user = User.objects.get(email="ann@example.com")
    membership = Membership.objects.get(user=user)
    assert (membership.organization.name, membership.role) == ("Ann Co", Role.OWNER)
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["ann@example.com"]


def test_signup_without_verification_signs_in(db, settings):
    settings.PIXELL_EMAIL_VERIFICATION = "none"
    client = Client()
    response = client.post(
        "/signup/", {"email": "bob@example.com", "password": "a-long-enough-password"}
    )
    assert response.status_code == 302 and response["Location"] == "/dashboard/"
    assert "bob@example.com&#x27;s organization" in client.get("/dashboard/").content.decode()


@pytest.mark.parametrize(
    ("data", "status", "text"),
    [
        (
            {"email": "owner@example.com", "password": "a-long-enough-password"},
            409,
            "already exists",
        ),
        ({"email": "not-an-email", "password": "a-long-enough-password"}, 400, "valid email"),
        ({"email": "c@example.com", "password": "short"}, 400, "password"),
    ],
)
def test_signup_errors_are_form_errors(owner, data, status, text):
    response = Client().post("/signup/", data)
    assert response.status_code == status
    assert text in response.content.decode()
    assert User.objects.count() == 1


def test_anonymous_form_posts_share_the_api_rate_limit(db, settings):
    settings.PIXELL_RATE_LIMIT_ANONYMOUS = "2/h"
    client = Client()
    assert client.post("/password-reset/", {"email": "a@example.com"}).status_code == 200
    assert client.post("/password-reset/", {"email": "a@example.com"}).status_code == 200
    response = client.post(
        "/signup/", {"email": "x@example.com", "password": "a-long-enough-password"}
    )
    assert response.status_code == 429 and "Retry-After" in response
    assert not User.objects.filter(email="x@example.com").exists()
    assert client.post("/login/", {"email": "a@example.com", "password": "x"}).status_code == 429


def test_password_reset_request_mails_a_link_and_reveals_nothing(
    owner, django_capture_on_commit_callbacks
):
    client = Client()
    assert client.get("/password-reset/?email=owner%40example.com").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        known = client.post("/password-reset/", {"email": owner.email})
        unknown = client.post("/password-reset/", {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert "is on its way" in known.content.decode() and "is on its way" in unknown.content.decode()
    assert len(mail.outbox) == 1 and "/reset-password/" in mail.outbox[0].body


def test_signed_in_visitors_skip_the_login_page(owner_page):
    response = owner_page.get("/login/")
    assert response.status_code == 302 and response["Location"] == "/dashboard/"
