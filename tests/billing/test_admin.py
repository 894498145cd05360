import pytest
from django.urls import reverse

from billing.models import CheckoutSession, CreditTransaction, StripeEvent
from organizations.models import Organization
from tests.factories import UserFactory


@pytest.fixture
def staff_client(client, db):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def _adjust(staff_client, org, amount, reason="Goodwill for the outage"):
    url = reverse("admin:billing_creditadjustment_add")
    return staff_client.post(url, {"organization": str(org.pk), "amount": amount, "reason": reason})


def test_grant_writes_an_adjustment_row_with_the_reason(staff_client, org):
    response = _adjust(staff_client, org, 250)
    assert response.status_code == 302
    row = CreditTransaction.objects.for_org(org).get(type="adjustment")
    assert (row.amount, row.balance_after, row.description, row.actor.is_staff) == (
        250,
        350,
        "Goodwill for the outage",
        True,
    )
    assert Organization.objects.get(pk=org.pk).credits == 350
    listing = staff_client.get(reverse("admin:billing_creditadjustment_changelist"))
    assert b"Goodwill for the outage" in listing.content


def test_take_back_credits_but_never_below_zero(staff_client, org):
    assert _adjust(staff_client, org, -40, reason="Duplicate grant").status_code == 302
    assert Organization.objects.get(pk=org.pk).credits == 60
    response = _adjust(staff_client, org, -61, reason="Too much")
    assert response.status_code == 200 and b"cannot lose 61" in response.content
    assert Organization.objects.get(pk=org.pk).credits == 60


def test_reason_and_a_non_zero_amount_are_required(staff_client, org):
    assert _adjust(staff_client, org, 10, reason="").status_code == 200
    assert _adjust(staff_client, org, 0).status_code == 200
    assert not CreditTransaction.objects.for_org(org).filter(type="adjustment").exists()


def test_ledger_and_adjustments_cannot_be_edited_or_deleted(staff_client, org):
    _adjust(staff_client, org, 5)
    row = CreditTransaction.objects.for_org(org).get(type="adjustment")
    change = staff_client.post(
        reverse("admin:billing_creditadjustment_change", args=[row.pk]), {"amount": 5000}
    )
    assert CreditTransaction.all_orgs.get(pk=row.pk).amount == 5 and change.status_code in (
        200,
        403,
    )
    assert (
        staff_client.post(
            reverse("admin:billing_creditadjustment_delete", args=[row.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert staff_client.get(reverse("admin:billing_credittransaction_add")).status_code == 403


def test_purchase_and_event_lists_render(staff_client, org, owner):
    CheckoutSession.objects.for_org(org).create(
        organization=org,
        session_id="cs_sandbox_x",
        provider="sandbox",
        user=owner,
        package="starter",
        credits=1000,
        amount_cents=1000,
    )
    StripeEvent.objects.create(
        event_id="evt_1",
        type="checkout.session.completed",
        status="failed",
        error="unknown organization",
    )
    assert (
        b"cs_sandbox_x"
        not in staff_client.get(reverse("admin:billing_stripeevent_changelist")).content
    )
    assert (
        b"10.00 USD"
        in staff_client.get(reverse("admin:billing_checkoutsession_changelist")).content
    )
    assert (
        b"unknown organization"
        in staff_client.get(reverse("admin:billing_stripeevent_changelist")).content
    )
    assert staff_client.get(reverse("admin:usage_usageevent_changelist")).status_code == 200
    assert staff_client.get(reverse("admin:usage_apicalldaily_changelist")).status_code == 200


def test_balance_falling_between_check_and_write_moves_nothing(staff_client, org, monkeypatch):
    from django import forms

    from billing.admin import CreditAdjustmentForm

    monkeypatch.setattr(
        CreditAdjustmentForm, "clean", forms.ModelForm.clean
    )  # as if the balance fell after the check
    response = _adjust(staff_client, org, -500, reason="Too much")
    assert response.status_code == 302
    assert Organization.objects.get(pk=org.pk).credits == 100
    assert not CreditTransaction.objects.for_org(org).filter(type="adjustment").exists()
    page = staff_client.get(response["Location"])
    assert b"Nothing was adjusted" in page.content
