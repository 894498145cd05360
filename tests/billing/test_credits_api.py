from datetime import UTC, datetime, timedelta

import pytest
import stripe
from freezegun import freeze_time

from billing.models import CheckoutSession, CreditTransaction, TransactionType
from billing.services import checkout_fulfil, checkout_session_create, credits_apply
from organizations.models import Organization
from pixell.errors import ValidationError
from tests.billing.helpers import FakeStripe
from tests.conftest import client_for


def _balance(org) -> int:
    return Organization.objects.get(pk=org.pk).credits


# --- GET /api/credits/balance ------------------------------------------------------------------


def test_balance_in_seed_shape(owner_client, org):
    response = owner_client.get("/api/credits/balance")
    assert response.status_code == 200
    assert response.json() == {"credits": 100, "usage_this_month": 0, "last_topped_up": None}


def test_balance_counts_this_months_usage_net_of_refunds_and_last_purchase(owner, org):
    with freeze_time("2026-01-31T23:00:00Z"):
        credits_apply(
            organization=org, amount=-40, type=TransactionType.USAGE, description="last month"
        )
    with freeze_time("2026-02-03T10:00:00Z"):
        credits_apply(
            organization=org, amount=-30, type=TransactionType.USAGE, description="Deploy"
        )
        credits_apply(
            organization=org, amount=-20, type=TransactionType.USAGE, description="Deploy"
        )
        credits_apply(
            organization=org, amount=20, type=TransactionType.REFUND, description="Refund"
        )
        checkout_fulfil(session_id="cs_1", organization_id=org.pk, credits=1000)
    with freeze_time("2026-02-10T12:00:00Z"):
        body = client_for(owner).get("/api/credits/balance").json()
    assert body == {
        "credits": 1030,
        "usage_this_month": 30,
        "last_topped_up": "2026-02-03T10:00:00Z",
    }


def test_balance_member_and_api_key_may_read(role_clients):
    for client in role_clients.values():
        assert client.get("/api/credits/balance").status_code == 200


def test_balance_is_the_callers_organization_only(owner_client, other_client, org, other_org):
    credits_apply(
        organization=other_org, amount=500, type=TransactionType.BONUS, description="Gift"
    )
    assert owner_client.get("/api/credits/balance").json()["credits"] == 100
    assert other_client.get("/api/credits/balance").json()["credits"] == 600
    foreign = client_for(org.memberships.get().user, org=other_org)
    response = foreign.get("/api/credits/balance")
    assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"


def test_balance_needs_authentication(anon_client):
    assert anon_client.get("/api/credits/balance").status_code == 401


# --- GET /api/credits/history ------------------------------------------------------------------


def test_history_newest_first_in_seed_shape(member_client, org):
    credits_apply(
        organization=org, amount=-10, type=TransactionType.USAGE, description="Agent invocation"
    )
    body = member_client.get("/api/credits/history").json()
    assert set(body) == {"transactions", "next_cursor"}
    assert body["next_cursor"] is None
    first, second = body["transactions"]
    assert set(first) == {"id", "type", "amount", "balance_after", "description", "created_at"}
    assert (first["type"], first["amount"], first["balance_after"], first["description"]) == (
        "usage",
        -10,
        90,
        "Agent invocation",
    )
    assert (second["type"], second["amount"], second["balance_after"]) == ("bonus", 100, 100)


def test_history_pages_with_cursor(owner_client, org):
    for i in range(4):
        credits_apply(
            organization=org, amount=-1, type=TransactionType.USAGE, description=f"use {i}"
        )
    page1 = owner_client.get("/api/credits/history?limit=2").json()
    page2 = owner_client.get(f"/api/credits/history?limit=2&cursor={page1['next_cursor']}").json()
    page3 = owner_client.get(f"/api/credits/history?limit=2&cursor={page2['next_cursor']}").json()
    descriptions = [
        t["description"] for page in (page1, page2, page3) for t in page["transactions"]
    ]
    assert descriptions == ["use 3", "use 2", "use 1", "use 0", "Signup credits"]
    assert page3["next_cursor"] is None


def test_history_rejects_bad_limit_and_cursor(owner_client):
    assert owner_client.get("/api/credits/history?limit=0").json()["details"] == {
        "limit": ["Must be between 1 and 100."]
    }
    assert owner_client.get("/api/credits/history?cursor=forged").status_code == 400


def test_history_shows_only_own_organization(owner_client, other_org):
    credits_apply(
        organization=other_org, amount=7, type=TransactionType.BONUS, description="Theirs"
    )
    descriptions = [
        t["description"] for t in owner_client.get("/api/credits/history").json()["transactions"]
    ]
    assert descriptions == ["Signup credits"]


def test_history_query_count_is_constant(owner_client, org, django_assert_max_num_queries):
    for i in range(30):
        credits_apply(
            organization=org, amount=-1, type=TransactionType.USAGE, description=f"use {i}"
        )
    with django_assert_max_num_queries(8):
        assert len(owner_client.get("/api/credits/history").json()["transactions"]) == 31


# --- POST /api/credits/topup -------------------------------------------------------------------


@pytest.fixture
def sandbox(settings):
    settings.STRIPE_SECRET_KEY = None
    settings.PIXELL_BILLING_SANDBOX = True
    settings.PIXELL_PUBLIC_URL = "http://localhost:4000"
    return settings


def test_topup_sandbox_creates_pending_session(admin_client, org, admin_user, sandbox):
    response = admin_client.post(
        "/api/credits/topup", {"package": "growth", "credits": 5000}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"sessionUrl", "sessionId"}
    assert body["sessionId"].startswith("cs_sandbox_")
    assert (
        body["sessionUrl"] == f"http://localhost:4000/billing/sandbox-checkout/{body['sessionId']}/"
    )
    checkout = CheckoutSession.objects.for_org(org).get()
    assert (
        checkout.session_id,
        checkout.status,
        checkout.credits,
        checkout.package,
        checkout.user,
    ) == (body["sessionId"], "pending", 5000, "growth", admin_user)
    assert _balance(org) == 100  # nothing credited before payment


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"package": "huge", "credits": 1000}, "package"),
        ({"package": "starter", "credits": 999}, "credits"),
        ({"package": "starter", "credits": "1000"}, "credits"),
        ({"credits": 1000}, "package"),
        ({"package": "starter"}, "credits"),
    ],
)
def test_topup_validation_names_the_field(owner_client, sandbox, payload, field):
    response = owner_client.post("/api/credits/topup", payload, format="json")
    assert response.status_code == 400
    body = response.json()
    assert (
        body["code"] == "VALIDATION_ERROR" and field in body["details"] and field in body["error"]
    )


@pytest.mark.parametrize(
    ("package", "credits", "details"),
    [
        ("huge", None, {"package": ["Unknown package; choose one of: starter, growth, scale."]}),
        ("starter", 999, {"credits": ["The starter package is 1000 credits."]}),
    ],
)
def test_the_service_refuses_a_package_that_is_not_configured(
    org, owner, sandbox, package, credits, details
):
    # The top-up rule is the service's: a caller other than the API (the dashboard, a shell) gets
    # the same 400 ValidationError, never a KeyError.
    with pytest.raises(ValidationError) as caught:
        checkout_session_create(organization=org, actor=owner, package=package, credits=credits)
    assert caught.value.status_code == 400 and caught.value.details == details
    assert not CheckoutSession.objects.for_org(org).exists()


def test_topup_needs_admin(member_client, api_key_client, owner_client, sandbox):
    for client in (member_client, api_key_client):
        response = client.post(
            "/api/credits/topup", {"package": "starter", "credits": 1000}, format="json"
        )
        assert response.status_code == 403 and response.json()["code"] == "PERMISSION_DENIED"
    assert (
        owner_client.post(
            "/api/credits/topup", {"package": "starter", "credits": 1000}, format="json"
        ).status_code
        == 200
    )


def test_topup_without_any_provider_is_503(owner_client, settings):
    settings.STRIPE_SECRET_KEY = None
    settings.PIXELL_BILLING_SANDBOX = False
    response = owner_client.post(
        "/api/credits/topup", {"package": "starter", "credits": 1000}, format="json"
    )
    assert response.status_code == 503
    assert "not available" in response.json()["error"]


@pytest.fixture
def fake_stripe(settings):
    settings.STRIPE_SECRET_KEY = "sk_test_fake"
    settings.PIXELL_BILLING_SANDBOX = False
    settings.PIXELL_PUBLIC_URL = "https://cloud.example.com"
    previous = stripe.api_base
    with FakeStripe() as fake:
        stripe.api_base = fake.url
        yield fake
    stripe.api_base = previous


def test_topup_creates_a_stripe_checkout_session(owner_client, owner, org, fake_stripe):
    response = owner_client.post(
        "/api/credits/topup", {"package": "scale", "credits": 25000}, format="json"
    )
    assert response.status_code == 200
    assert response.json() == {
        "sessionUrl": "https://checkout.stripe.com/c/pay/cs_test_fake123",
        "sessionId": "cs_test_fake123",
    }
    (request,) = fake_stripe.requests
    form = request["form"]
    assert request["path"] == "/v1/checkout/sessions"
    assert request["headers"]["Authorization"] == "Bearer sk_test_fake"
    assert form["mode"] == "payment"
    assert form["line_items[0][price_data][unit_amount]"] == "20000"
    assert form["line_items[0][price_data][currency]"] == "usd"
    assert form["line_items[0][quantity]"] == "1"
    assert form["metadata[organizationId]"] == str(org.pk)
    assert form["metadata[userId]"] == str(owner.pk)
    assert form["metadata[credits]"] == "25000"
    assert form["client_reference_id"] == str(org.pk)
    assert form["success_url"].startswith("https://cloud.example.com/billing/checkout/success/")
    assert "{CHECKOUT_SESSION_ID}" in form["success_url"]
    assert form["cancel_url"] == "https://cloud.example.com/billing/checkout/cancelled/"
    checkout = CheckoutSession.objects.for_org(org).get()
    assert (checkout.provider, checkout.session_id, checkout.amount_cents) == (
        "stripe",
        "cs_test_fake123",
        20000,
    )


def test_topup_stripe_failure_is_502_and_records_nothing(owner_client, org, fake_stripe):
    fake_stripe.status = 500
    response = owner_client.post(
        "/api/credits/topup", {"package": "starter", "credits": 1000}, format="json"
    )
    assert response.status_code == 502 and response.json()["code"] == "INTERNAL_ERROR"
    assert not CheckoutSession.objects.for_org(org).exists()


# --- Sandbox checkout page ---------------------------------------------------------------------


def _sandbox_session(client) -> str:
    return client.post(
        "/api/credits/topup", {"package": "starter", "credits": 1000}, format="json"
    ).json()["sessionId"]


def _page_client(client, user):
    client.force_login(user)
    return client


def test_sandbox_pay_credits_once_through_fulfilment(owner_client, owner, org, sandbox, client):
    session_id = _sandbox_session(owner_client)
    page = _page_client(client, owner)
    url = f"/billing/sandbox-checkout/{session_id}/"
    get = page.get(url)
    assert get.status_code == 200 and b"Pay" in get.content and b"Cancel" in get.content
    response = page.post(url, {"action": "pay"})
    assert response.status_code == 302 and response["Location"].startswith(
        "/billing/checkout/success/"
    )
    assert _balance(org) == 1100
    row = CreditTransaction.objects.for_org(org).get(type="purchase")
    assert (row.reference, row.amount, row.description) == (
        f"stripe:checkout:{session_id}",
        1000,
        "Credit top-up",
    )
    assert CheckoutSession.objects.for_org(org).get().status == "completed"
    page.post(url, {"action": "pay"})  # a double click
    assert _balance(org) == 1100
    assert CreditTransaction.objects.for_org(org).filter(type="purchase").count() == 1


def test_sandbox_cancel_then_pay_is_refused(owner_client, owner, org, sandbox, client):
    session_id = _sandbox_session(owner_client)
    page = _page_client(client, owner)
    url = f"/billing/sandbox-checkout/{session_id}/"
    assert page.post(url, {"action": "cancel"}).status_code == 302
    response = page.post(url, {"action": "pay"})
    assert response.status_code == 400 and b"cancelled" in response.content
    assert _balance(org) == 100


def test_sandbox_session_expires_after_a_day(owner_client, owner, org, sandbox, client):
    session_id = _sandbox_session(owner_client)
    page = _page_client(client, owner)
    with freeze_time(datetime.now(UTC) + timedelta(hours=25)):
        response = page.post(f"/billing/sandbox-checkout/{session_id}/", {"action": "pay"})
    assert response.status_code == 400 and b"expired" in response.content
    assert _balance(org) == 100


def test_sandbox_page_needs_sign_in_and_membership(owner_client, other_owner, org, sandbox, client):
    session_id = _sandbox_session(owner_client)
    url = f"/billing/sandbox-checkout/{session_id}/"
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    client.force_login(other_owner)
    assert client.get(url).status_code == 404
    assert client.post(url, {"action": "pay"}).status_code == 404
    assert _balance(org) == 100


def test_sandbox_page_accepts_the_api_auth_cookie(
    owner_client, owner, org, sandbox, client, settings
):
    from rest_framework_simplejwt.tokens import RefreshToken

    session_id = _sandbox_session(owner_client)
    client.cookies[settings.AUTH_COOKIE_NAME] = str(RefreshToken.for_user(owner).access_token)
    assert client.get(f"/billing/sandbox-checkout/{session_id}/").status_code == 200


def test_sandbox_pay_needs_csrf_token(owner_client, owner, org, sandbox):
    from django.test import Client

    session_id = _sandbox_session(owner_client)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)
    assert (
        browser.post(f"/billing/sandbox-checkout/{session_id}/", {"action": "pay"}).status_code
        == 403
    )
    assert _balance(org) == 100


def test_sandbox_member_of_the_org_may_not_pay(owner_client, member_user, org, sandbox, client):
    # Paying credits the organization: only an admin or owner may, as with POST /api/credits/topup.
    session_id = _sandbox_session(owner_client)
    client.force_login(member_user)
    response = client.post(f"/billing/sandbox-checkout/{session_id}/", {"action": "pay"})
    assert response.status_code == 400
    assert _balance(org) == 100
    assert CheckoutSession.objects.for_org(org).get().status == "pending"


def test_sandbox_session_is_not_payable_once_stripe_is_configured(
    owner_client, owner, org, sandbox, client
):
    session_id = _sandbox_session(owner_client)
    sandbox.STRIPE_SECRET_KEY = "sk_test_configured_later"
    page = _page_client(client, owner)
    response = page.post(f"/billing/sandbox-checkout/{session_id}/", {"action": "pay"})
    assert response.status_code == 400
    assert _balance(org) == 100
    assert not CreditTransaction.objects.for_org(org).filter(type="purchase").exists()
