import json
import threading
import time

import pytest
from django.db import connection, connections
from django.test import Client

from billing.models import CheckoutSession, CreditTransaction, StripeEvent
from billing.services import checkout_session_create
from organizations.models import Organization
from tests.billing.helpers import WEBHOOK_SECRET, checkout_event, post_event, sign
from usage.models import UsageEvent


@pytest.fixture(autouse=True)
def _webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET


def _balance(org) -> int:
    return Organization.objects.get(pk=org.pk).credits


def _paid(org, **kwargs) -> dict:
    metadata = {"organizationId": str(org.pk), "userId": "", "credits": "1000"}
    return checkout_event(metadata=metadata, **kwargs)


def test_paid_checkout_credits_the_organization_and_records_a_purchase(client, org):
    response = post_event(client, _paid(org))
    assert response.status_code == 200 and response.json() == {"received": True}
    assert _balance(org) == 1100
    row = CreditTransaction.objects.for_org(org).get(type="purchase")
    assert (row.amount, row.balance_after, row.reference) == (
        1000,
        1100,
        "stripe:checkout:cs_test_1",
    )
    event = UsageEvent.objects.for_org(org).get(type="purchase")
    assert (event.value, event.credits) == (1000, 0)
    assert StripeEvent.objects.get().status == "processed"


def test_same_event_again_is_acknowledged_and_credits_nothing(client, org):
    for _ in range(3):
        assert post_event(client, _paid(org)).status_code == 200
    assert _balance(org) == 1100
    assert UsageEvent.objects.for_org(org).filter(type="purchase").count() == 1


def test_other_event_for_the_same_session_credits_nothing(client, org):
    post_event(client, _paid(org, event_id="evt_1"))
    response = post_event(
        client, _paid(org, event_id="evt_2", type="checkout.session.async_payment_succeeded")
    )
    assert response.status_code == 200
    assert _balance(org) == 1100
    assert UsageEvent.objects.for_org(org).filter(type="purchase").count() == 1


def test_unpaid_completion_waits_for_async_payment(client, org):
    post_event(client, _paid(org, event_id="evt_1", payment_status="unpaid"))
    assert _balance(org) == 100
    post_event(
        client,
        _paid(
            org,
            event_id="evt_2",
            type="checkout.session.async_payment_succeeded",
            payment_status="paid",
        ),
    )
    assert _balance(org) == 1100


def test_user_id_alone_credits_the_users_current_organization(client, owner, org, other_org):
    from organizations.models import Membership, Role

    Membership.objects.create(organization=other_org, user=owner, role=Role.MEMBER)
    event = checkout_event(metadata={"userId": str(owner.pk), "credits": "1000"})
    assert post_event(client, event).status_code == 200
    assert (_balance(org), _balance(other_org)) == (1100, 100)  # oldest membership, none chosen


def test_fulfilment_marks_the_checkout_session_completed(client, owner, org, settings):
    settings.STRIPE_SECRET_KEY, settings.PIXELL_BILLING_SANDBOX = None, True
    checkout = checkout_session_create(organization=org, actor=owner, package="starter").checkout
    post_event(client, _paid(org, session_id=checkout.session_id))
    assert CheckoutSession.objects.for_org(org).get().status == "completed"


def test_other_event_types_are_acknowledged(client, org):
    response = post_event(
        client, {"id": "evt_x", "type": "invoice.paid", "data": {"object": {"id": "in_1"}}}
    )
    assert response.status_code == 200 and response.json() == {"received": True}
    assert StripeEvent.objects.get().status == "ignored"
    assert _balance(org) == 100


@pytest.mark.parametrize(
    "make_request",
    [
        pytest.param(
            lambda c, org: post_event(c, _paid(org), secret="whsec_forged"), id="forged-signature"
        ),
        pytest.param(
            lambda c, org: post_event(c, _paid(org), timestamp=int(time.time()) - 301),
            id="stale-timestamp",
        ),
        pytest.param(lambda c, org: post_event(c, _paid(org), header=""), id="missing-header"),
        pytest.param(
            lambda c, org: post_event(c, _paid(org), header="garbage"), id="garbled-header"
        ),
        pytest.param(
            lambda c, org: post_event(c, b'{"id": "evt_1", "type": '), id="malformed-json"
        ),
        pytest.param(lambda c, org: post_event(c, b"\xff\xfe not utf-8"), id="not-utf8"),
        pytest.param(lambda c, org: post_event(c, b'["an", "array"]'), id="not-an-object"),
        pytest.param(
            lambda c, org: post_event(c, b'{"type": "checkout.session.completed"}'),
            id="no-event-id",
        ),
    ],
)
def test_bad_deliveries_are_400_and_credit_nothing(client, org, make_request):
    response = make_request(client, org)
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert _balance(org) == 100
    assert not StripeEvent.objects.exists()


def test_tampered_payload_is_refused(client, org):
    payload = json.dumps(_paid(org)).encode()
    header = sign(payload)
    tampered = payload.replace(b'"1000"', b'"9000"')
    response = client.post(
        "/api/stripe/webhook",
        data=tampered,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=header,
    )
    assert response.status_code == 400
    assert _balance(org) == 100


@pytest.mark.parametrize(
    "metadata",
    [
        {"organizationId": "00000000-0000-0000-0000-000000000000", "credits": "1000"},
        {"organizationId": "not-a-uuid", "credits": "1000"},
        {"userId": "00000000-0000-0000-0000-000000000000", "credits": "1000"},
        {"credits": "1000"},
    ],
)
def test_unknown_organization_is_200_logged_and_credits_nothing(client, org, caplog, metadata):
    with caplog.at_level("ERROR", logger="billing.services"):
        response = post_event(client, checkout_event(metadata=metadata))
    assert response.status_code == 200
    assert any(r.levelname == "ERROR" and "evt_1" in r.getMessage() for r in caplog.records)
    assert StripeEvent.objects.get().status == "failed"
    assert not CreditTransaction.all_orgs.filter(type="purchase").exists()


@pytest.mark.parametrize("credits", ["", "abc", "-5", "0", None])
def test_bad_credits_metadata_is_200_logged_and_credits_nothing(client, org, caplog, credits):
    with caplog.at_level("ERROR", logger="billing.services"):
        response = post_event(
            client, checkout_event(metadata={"organizationId": str(org.pk), "credits": credits})
        )
    assert response.status_code == 200
    assert "credited nothing" in caplog.text
    assert _balance(org) == 100


def test_weird_but_signed_shapes_never_500(client, org):
    shapes = [
        None,
        {"object": None},
        {"object": []},
        {
            "object": {
                "metadata": {"organizationId": str(org.pk), "credits": "5"},
                "payment_status": "paid",
            }
        },
        {"object": {"id": 5, "metadata": "x", "payment_status": "paid"}},
    ]
    for i, data in enumerate(shapes):
        event = {"id": f"evt_{i}", "type": "checkout.session.completed", "data": data}
        assert post_event(client, event).status_code == 200
    assert _balance(org) == 100


def test_unset_webhook_secret_is_503(client, org, settings):
    settings.STRIPE_WEBHOOK_SECRET = None
    response = post_event(client, _paid(org))
    assert response.status_code == 503
    assert _balance(org) == 100


def test_webhook_is_not_rate_limited_nor_csrf_checked(org, settings):
    settings.PIXELL_RATE_LIMIT_ANONYMOUS = "1/h"
    browser = Client(enforce_csrf_checks=True)
    for i in range(3):
        response = post_event(browser, _paid(org, event_id=f"evt_{i}", session_id=f"cs_{i}"))
        assert response.status_code == 200
        assert "X-RateLimit-Limit" not in response
    assert _balance(org) == 3100


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_same_event_delivered_ten_times_concurrently_credits_once(org):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serializes every writer")
    payload = json.dumps(_paid(org)).encode()
    barrier = threading.Barrier(10)
    statuses = []

    def deliver():
        try:
            barrier.wait()
            response = Client().post(
                "/api/stripe/webhook",
                data=payload,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=sign(payload),
            )
            statuses.append(response.status_code)
        finally:
            connections.close_all()  # each thread had its own connection

    threads = [threading.Thread(target=deliver) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 10
    assert _balance(org) == 1100
    assert CreditTransaction.objects.for_org(org).filter(type="purchase").count() == 1
    assert UsageEvent.objects.for_org(org).filter(type="purchase").count() == 1
    assert StripeEvent.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_different_events_of_one_session_concurrently_credit_once(org):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serializes every writer")
    barrier = threading.Barrier(10)
    statuses = []

    def deliver(i):
        event = _paid(
            org,
            event_id=f"evt_{i}",
            type="checkout.session.completed"
            if i % 2
            else "checkout.session.async_payment_succeeded",
        )
        payload = json.dumps(event).encode()
        try:
            barrier.wait()
            statuses.append(
                Client()
                .post(
                    "/api/stripe/webhook",
                    data=payload,
                    content_type="application/json",
                    HTTP_STRIPE_SIGNATURE=sign(payload),
                )
                .status_code
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 10
    assert _balance(org) == 1100
    assert StripeEvent.objects.filter(status="processed").count() == 10
    assert UsageEvent.objects.for_org(org).filter(type="purchase").count() == 1
