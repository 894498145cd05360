"""Operator admin: every model lists, key material never shows, the ledger is read-only."""

import pytest
from django.urls import reverse

from billing.models import CreditTransaction
from organizations.keys import api_key_hash
from organizations.models import ApiKey, Invitation, Role
from organizations.services import invitation_create
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(email="ops@example.com", is_staff=True, is_superuser=True))
    return client


@pytest.mark.parametrize(
    "name",
    [
        "accounts_user",
        "organizations_organization",
        "organizations_membership",
        "organizations_invitation",
        "organizations_apikey",
        "billing_credittransaction",
    ],
)
def test_changelists_load(staff_client, org, api_key, name):
    response = staff_client.get(reverse(f"admin:{name}_changelist"))
    assert response.status_code == 200


def test_user_search(staff_client, owner):
    response = staff_client.get(reverse("admin:accounts_user_changelist"), {"q": "owner@"})
    assert owner.email.encode() in response.content


def test_api_key_admin_never_shows_key_material(staff_client, api_key):
    for url in (
        reverse("admin:organizations_apikey_changelist"),
        reverse("admin:organizations_apikey_change", args=[api_key.pk]),
    ):
        content = staff_client.get(url).content.decode()
        assert api_key.raw not in content
        assert api_key_hash(api_key.raw) not in content
        assert api_key.key_preview in content


def test_api_key_revoke_action_deletes_and_key_fails(staff_client, api_key):
    from tests.conftest import client_for

    response = staff_client.post(
        reverse("admin:organizations_apikey_changelist"),
        {"action": "revoke", "_selected_action": [str(api_key.pk)]},
    )
    assert response.status_code == 302
    assert not ApiKey.all_orgs.filter(pk=api_key.pk).exists()
    assert client_for(api_key=api_key.raw).get("/api/organizations/current").status_code == 401


def test_invitation_revoke_action(staff_client, org, owner):
    invitation, _ = invitation_create(
        organization=org,
        actor=owner,
        actor_role=Role.OWNER,
        email="x@example.com",
        role=Role.MEMBER,
    )
    staff_client.post(
        reverse("admin:organizations_invitation_changelist"),
        {"action": "revoke", "_selected_action": [str(invitation.pk)]},
    )
    assert Invitation.all_orgs.get(pk=invitation.pk).revoked_at is not None


def test_ledger_is_read_only(staff_client, org):
    row = CreditTransaction.objects.for_org(org).first()
    assert staff_client.get(reverse("admin:billing_credittransaction_add")).status_code == 403
    assert (
        staff_client.post(
            reverse("admin:billing_credittransaction_delete", args=[row.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert CreditTransaction.all_orgs.filter(pk=row.pk).exists()


def test_organization_credits_are_read_only(staff_client, org):
    before = org.credits
    staff_client.post(
        reverse("admin:organizations_organization_change", args=[org.pk]),
        {
            "name": "Acme",
            "credits": 999999,
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    org.refresh_from_db()
    assert org.credits == before
