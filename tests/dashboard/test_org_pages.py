"""API keys, members and invitations, settings and signing keys: the organization services behind
forms, with the role matrix enforced (hidden for members, 403 on their POSTs)."""

import re

import pytest
from django.core import mail

from agentapps.models import SigningKey
from organizations.keys import api_key_hash
from organizations.models import ApiKey, Invitation, Membership, Organization, Role
from tests.agentapps.packages import ed25519_keypair
from tests.dashboard.conftest import session_client
from tests.factories import MembershipFactory, UserFactory, api_key_for


def _shown_key(response) -> str:
    return re.search(r'data-testid="new-api-key">([^<]+)<', response.content.decode()).group(1)


# --- API keys ----------------------------------------------------------------------------------------


def test_admins_create_a_key_and_see_it_once(admin_page, org, admin_user):
    response = admin_page.post("/dashboard/api-keys/", {"name": "GitHub Actions"})
    assert response.status_code == 200
    raw = _shown_key(response)
    key = ApiKey.objects.for_org(org).get(name="GitHub Actions")
    assert (
        raw.startswith("pac_")
        and key.key_hash == api_key_hash(raw)
        and key.created_by == admin_user
    )
    listing = admin_page.get("/dashboard/api-keys/").content.decode()
    assert raw not in listing and key.key_preview in listing


def test_the_shown_key_works_against_the_api(admin_page, org):
    from rest_framework.test import APIClient

    raw = _shown_key(admin_page.post("/dashboard/api-keys/", {"name": "CI"}))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/organizations/current").json()["organization"]["id"] == str(org.id)


def test_rotating_shows_the_new_key_once_and_kills_the_old(admin_page, org):
    key, old = api_key_for(org)
    response = admin_page.post(f"/dashboard/api-keys/{key.id}/rotate/")
    new = _shown_key(response)
    key.refresh_from_db()
    assert (
        new != old
        and key.key_hash == api_key_hash(new)
        and "stopped working" in response.content.decode()
    )


def test_deleting_a_key(admin_page, org):
    key, _ = api_key_for(org)
    response = admin_page.post(f"/dashboard/api-keys/{key.id}/delete/")
    assert response.status_code == 302 and not ApiKey.objects.for_org(org).exists()


def test_an_empty_key_name_is_a_form_error(admin_page, org):
    response = admin_page.post("/dashboard/api-keys/", {"name": " "})
    assert response.status_code == 400 and not ApiKey.objects.for_org(org).exists()


def test_members_get_an_explanation_and_no_keys(member_page, org):
    key, _ = api_key_for(org)
    response = member_page.get("/dashboard/api-keys/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "needs the <strong>admin</strong> role" in html and key.key_preview not in html
    assert member_page.post("/dashboard/api-keys/", {"name": "mine"}).status_code == 403
    assert member_page.post(f"/dashboard/api-keys/{key.id}/rotate/").status_code == 403
    assert member_page.post(f"/dashboard/api-keys/{key.id}/delete/").status_code == 403
    assert list(ApiKey.objects.for_org(org)) == [key]


def test_another_organizations_key_is_not_found(owner_page, other_org):
    key, _ = api_key_for(other_org)
    assert owner_page.post(f"/dashboard/api-keys/{key.id}/rotate/").status_code == 404
    assert owner_page.post(f"/dashboard/api-keys/{key.id}/delete/").status_code == 404
    assert ApiKey.objects.for_org(other_org).exists()


# --- members and invitations --------------------------------------------------------------------------------


def test_members_page_lists_members_and_pending_invitations(
    member_page, owner, admin_user, member_user, org
):
    html = member_page.get("/dashboard/members/").content.decode()
    for user in (owner, admin_user, member_user):
        assert user.email in html
    assert 'action="/dashboard/members/"' not in html  # no invite form for members
    assert f'action="/dashboard/members/{member_user.id}/remove/"' in html  # but they may leave


def test_admins_invite_and_the_email_is_sent(admin_page, org, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_page.post(
            "/dashboard/members/", {"email": "New@Example.com", "role": "admin"}
        )
    assert response.status_code == 302
    invitation = Invitation.objects.for_org(org).get()
    assert (invitation.email, invitation.role) == ("new@example.com", Role.ADMIN)
    assert (
        len(mail.outbox) == 1
        and mail.outbox[0].to == ["new@example.com"]
        and "/invitations/" in mail.outbox[0].body
    )
    html = admin_page.get("/dashboard/members/").content.decode()
    assert "new@example.com" in html and f"/dashboard/invitations/{invitation.id}/revoke/" in html


@pytest.mark.parametrize(
    ("data", "status", "text"),
    [
        ({"email": "member@example.com"}, 409, "already a member"),
        ({"email": "nope"}, 400, "valid email"),
        ({"email": "x@example.com", "role": "owner"}, 403, "owner role"),
    ],
)
def test_invite_errors_are_form_errors(admin_page, member_user, org, data, status, text):
    response = admin_page.post("/dashboard/members/", data)
    assert response.status_code == status and text in response.content.decode()
    assert not Invitation.objects.for_org(org).exists()


def test_members_cannot_invite(member_page, org):
    assert member_page.post("/dashboard/members/", {"email": "x@example.com"}).status_code == 403
    assert not Invitation.objects.for_org(org).exists()


def test_accepting_an_invitation_offers_a_switch_without_switching(org, owner):
    from organizations.services import invitation_create, organization_create

    invitee = UserFactory(email="joiner@example.com")
    home = organization_create(name="Home Org", owner=invitee)
    _, token = invitation_create(
        organization=org, actor=owner, actor_role=Role.OWNER, email=invitee.email, role=Role.MEMBER
    )
    page = session_client(invitee)
    html = page.post(f"/invitations/{token}/").content.decode()
    assert f"Welcome to {org.name}" in html
    # Offered, not done: the current organization is still the user's own.
    assert "still Home Org" in html
    assert 'action="/dashboard/switch/"' in html
    assert f'name="organization_id" value="{org.id}"' in html
    assert page.get("/dashboard/").context["organization"] == home
    # Taking the offer switches.
    response = page.post("/dashboard/switch/", {"organization_id": str(org.id)})
    assert response.status_code == 302
    assert page.get("/dashboard/").context["organization"] == org


def test_an_invitation_to_the_only_organization_offers_no_switch(org, owner):
    from organizations.services import invitation_create

    invitee = UserFactory(email="first-org@example.com")
    _, token = invitation_create(
        organization=org, actor=owner, actor_role=Role.OWNER, email=invitee.email, role=Role.MEMBER
    )
    html = session_client(invitee).post(f"/invitations/{token}/").content.decode()
    assert f"Welcome to {org.name}" in html
    assert 'action="/dashboard/switch/"' not in html
    assert "It is your current organization" in html
    assert 'href="/dashboard/" data-testid="invitation-next"' in html


def test_admins_revoke_invitations_members_cannot(admin_page, member_page, org, admin_user):
    from organizations.services import invitation_create

    invitation, _ = invitation_create(
        organization=org,
        actor=admin_user,
        actor_role=Role.ADMIN,
        email="x@example.com",
        role=Role.MEMBER,
    )
    assert member_page.post(f"/dashboard/invitations/{invitation.id}/revoke/").status_code == 403
    assert admin_page.post(f"/dashboard/invitations/{invitation.id}/revoke/").status_code == 302
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None


def test_admins_change_a_members_role(admin_page, org, member_user):
    response = admin_page.post(f"/dashboard/members/{member_user.id}/role/", {"role": "admin"})
    assert response.status_code == 302
    assert Membership.objects.get(organization=org, user=member_user).role == Role.ADMIN


def test_finer_role_rules_come_back_as_messages(admin_page, org, owner):
    # Admins may not demote or remove an owner: the service refuses, the page explains.
    response = admin_page.post(
        f"/dashboard/members/{owner.id}/role/", {"role": "member"}, follow=True
    )
    assert "needs the owner role" in response.content.decode()
    response = admin_page.post(f"/dashboard/members/{owner.id}/remove/", follow=True)
    assert "needs the owner role" in response.content.decode()
    assert Membership.objects.get(organization=org, user=owner).role == Role.OWNER


def test_the_last_owner_cannot_leave(owner_page, org, owner):
    response = owner_page.post(f"/dashboard/members/{owner.id}/remove/", follow=True)
    assert "last owner" in response.content.decode()
    assert Membership.objects.filter(organization=org, user=owner).exists()


def test_members_cannot_remove_others_but_may_leave(member_page, org, admin_user, member_user):
    assert (
        member_page.post(
            f"/dashboard/members/{admin_user.id}/role/", {"role": "member"}
        ).status_code
        == 403
    )
    refused = member_page.post(f"/dashboard/members/{admin_user.id}/remove/", follow=True)
    assert "needs the admin role" in refused.content.decode()
    assert Membership.objects.filter(organization=org, user=admin_user).exists()
    response = member_page.post(f"/dashboard/members/{member_user.id}/remove/")
    assert response.status_code == 302 and response["Location"] == "/dashboard/"
    assert not Membership.objects.filter(organization=org, user=member_user).exists()


def test_owners_remove_admins(owner_page, org, admin_user):
    assert owner_page.post(f"/dashboard/members/{admin_user.id}/remove/").status_code == 302
    assert not Membership.objects.filter(organization=org, user=admin_user).exists()


def test_members_of_another_organization_are_not_found(owner_page, other_owner):
    assert owner_page.post(f"/dashboard/members/{other_owner.id}/remove/").status_code == 404
    assert (
        owner_page.post(
            f"/dashboard/members/{other_owner.id}/role/", {"role": "member"}
        ).status_code
        == 404
    )


# --- settings and signing keys -------------------------------------------------------------------------------


def test_admins_rename_and_require_signatures(admin_page, org):
    response = admin_page.post(
        "/dashboard/settings/", {"name": "Acme Robotics", "require_signed_packages": "1"}
    )
    assert response.status_code == 302
    org.refresh_from_db()
    assert (org.name, org.require_signed_packages) == ("Acme Robotics", True)
    admin_page.post("/dashboard/settings/", {"name": "Acme Robotics"})
    org.refresh_from_db()
    assert org.require_signed_packages is False


def test_an_empty_name_is_a_form_error(admin_page, org):
    response = admin_page.post("/dashboard/settings/", {"name": ""})
    assert response.status_code == 400 and "name" in response.content.decode()
    org.refresh_from_db()
    assert org.name == "Acme"


def test_members_see_settings_but_cannot_change_them(member_page, org):
    html = member_page.get("/dashboard/settings/").content.decode()
    assert 'action="/dashboard/settings/"' not in html and "Delete this organization" not in html
    assert member_page.post("/dashboard/settings/", {"name": "Mine"}).status_code == 403
    org.refresh_from_db()
    assert org.name == "Acme"


def test_admins_add_and_delete_signing_keys(admin_page, member_page, org):
    _, pem, _ = ed25519_keypair()
    assert (
        member_page.post(
            "/dashboard/settings/signing-keys/", {"name": "release", "public_key": pem}
        ).status_code
        == 403
    )
    response = admin_page.post(
        "/dashboard/settings/signing-keys/", {"name": "release", "public_key": pem}
    )
    assert response.status_code == 302
    key = SigningKey.objects.for_org(org).get()
    assert (
        key.fingerprint[:16] in member_page.get("/dashboard/settings/").content.decode()
    )  # members may list
    duplicate = admin_page.post(
        "/dashboard/settings/signing-keys/", {"name": "again", "public_key": pem}
    )
    assert duplicate.status_code == 409
    bad = admin_page.post(
        "/dashboard/settings/signing-keys/", {"name": "bad", "public_key": "not a key"}
    )
    assert bad.status_code == 400 and "public_key" in bad.content.decode()
    assert member_page.post(f"/dashboard/settings/signing-keys/{key.id}/delete/").status_code == 403
    assert admin_page.post(f"/dashboard/settings/signing-keys/{key.id}/delete/").status_code == 302
    assert not SigningKey.objects.for_org(org).exists()


def test_only_owners_delete_the_organization_after_typing_its_name(
    owner_page, admin_page, org, owner
):
    assert "Delete this organization" not in admin_page.get("/dashboard/settings/").content.decode()
    assert (
        admin_page.post("/dashboard/settings/delete/", {"confirm_name": "Acme"}).status_code == 403
    )
    wrong = owner_page.post("/dashboard/settings/delete/", {"confirm_name": "acme"})
    assert wrong.status_code == 400 and Organization.objects.filter(pk=org.pk).exists()
    response = owner_page.post("/dashboard/settings/delete/", {"confirm_name": "Acme"})
    assert response.status_code == 302 and not Organization.objects.filter(pk=org.pk).exists()
    assert "You are not in any organization" in owner_page.get("/dashboard/").content.decode()


def test_after_deleting_one_organization_the_next_one_is_current(owner, org):
    from organizations.services import organization_create

    organization_create(name="Second", owner=owner)
    client = session_client(owner)
    client.post("/dashboard/switch/", {"organization_id": str(org.id)})
    client.post("/dashboard/settings/delete/", {"confirm_name": "Acme"})
    assert "<h1>Second</h1>" in client.get("/dashboard/").content.decode()


def test_an_owner_who_is_only_member_elsewhere_acts_as_member_there(db):
    user = UserFactory()
    elsewhere = MembershipFactory(user=user, role=Role.MEMBER).organization
    client = session_client(user)
    assert client.post("/dashboard/settings/", {"name": "Taken over"}).status_code == 403
    elsewhere.refresh_from_db()
    assert elsewhere.name != "Taken over"
