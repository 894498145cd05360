"""Members and invitations (docs/API.md §2, docs/CONTRACT.md §3)."""

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone

from organizations.keys import token_hash
from organizations.models import Invitation, Membership, Role
from organizations.services import invitation_create
from tests.conftest import client_for
from tests.factories import MembershipFactory, UserFactory
from usage.models import UsageEvent, UsageEventType

pytestmark = pytest.mark.django_db


def _invite(client, capture, email="newmember@example.com", role="member"):
    with capture(execute=True):
        return client.post(
            "/api/organizations/members", {"email": email, "role": role}, format="json"
        )


def _token_from_mail() -> str:
    match = re.search(
        re.escape(settings.PIXELL_PUBLIC_URL) + r"/invitations/([^/\s]+)/", mail.outbox[-1].body
    )
    assert match, mail.outbox[-1].body
    return match.group(1)


# --- list ---------------------------------------------------------------------------------
def test_members_seed_shape(owner_client, owner, org, admin_user, member_user):
    response = owner_client.get("/api/organizations/members")
    assert response.status_code == 200
    members = response.json()["members"]
    assert [(m["email"], m["role"]) for m in members] == [
        (owner.email, "owner"),
        (admin_user.email, "admin"),
        (member_user.email, "member"),
    ]
    assert set(members[0]) == {"id", "user_id", "email", "role", "joined_at"}
    assert members[0]["user_id"] == str(owner.id)


@pytest.mark.parametrize(
    ("client_name", "status"), [("owner", 200), ("admin", 200), ("member", 200), ("api_key", 403)]
)
def test_members_list_roles(role_clients, client_name, status):
    assert role_clients[client_name].get("/api/organizations/members").status_code == status


def test_members_list_query_count_does_not_grow_with_members(owner_client, org):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    owner_client.get("/api/organizations/members")  # warm per-day counters
    with CaptureQueriesContext(connection) as one:
        owner_client.get("/api/organizations/members")
    for _ in range(5):
        MembershipFactory(organization=org)
    with CaptureQueriesContext(connection) as six:
        assert len(owner_client.get("/api/organizations/members").json()["members"]) == 6
    assert len(six.captured_queries) == len(one.captured_queries) <= 5


# --- invite -------------------------------------------------------------------------------
def test_invite_seed_shape_stores_only_hash_and_emails_link(
    owner_client, owner, org, django_capture_on_commit_callbacks
):
    response = _invite(owner_client, django_capture_on_commit_callbacks)

    assert response.status_code == 201
    invitation = response.json()["invitation"]
    assert {"id", "email", "role", "expires_at"} <= set(invitation)
    assert invitation["email"] == "newmember@example.com" and invitation["role"] == "member"
    row = Invitation.objects.for_org(org).get()
    assert timedelta(days=6, hours=23) < row.expires_at - timezone.now() <= timedelta(days=7)
    assert mail.outbox[-1].to == ["newmember@example.com"]
    token = _token_from_mail()
    assert row.token_hash == token_hash(token) and token not in row.token_hash
    assert (
        UsageEvent.objects.for_org(org)
        .filter(type=UsageEventType.MEMBER, metadata__action="invited")
        .exists()
    )


@pytest.mark.parametrize(
    ("client_name", "status"), [("owner", 201), ("admin", 201), ("member", 403), ("api_key", 403)]
)
def test_invite_roles(role_clients, client_name, status, django_capture_on_commit_callbacks):
    assert (
        _invite(role_clients[client_name], django_capture_on_commit_callbacks).status_code == status
    )


def test_only_owner_may_invite_owner(
    owner_client, admin_client, django_capture_on_commit_callbacks
):
    refused = _invite(admin_client, django_capture_on_commit_callbacks, role="owner")
    assert refused.status_code == 403 and refused.json()["code"] == "PERMISSION_DENIED"
    assert (
        _invite(admin_client, django_capture_on_commit_callbacks, role="admin").status_code == 201
    )
    assert (
        _invite(
            owner_client, django_capture_on_commit_callbacks, email="boss@example.com", role="owner"
        ).status_code
        == 201
    )


def test_invite_existing_member_is_409(
    owner_client, member_user, django_capture_on_commit_callbacks
):
    response = _invite(
        owner_client, django_capture_on_commit_callbacks, email=member_user.email.upper()
    )
    assert response.status_code == 409 and response.json()["code"] == "CONFLICT"


def test_reinvite_replaces_pending_invitation(
    owner_client, org, django_capture_on_commit_callbacks
):
    _invite(owner_client, django_capture_on_commit_callbacks)
    first = _token_from_mail()
    _invite(owner_client, django_capture_on_commit_callbacks)
    assert len(owner_client.get("/api/organizations/invitations").json()["invitations"]) == 1
    user = UserFactory(email="newmember@example.com")
    response = client_for(user).post("/api/invitations/accept", {"token": first}, format="json")
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "nope"}, "email"),
        ({"role": "member"}, "email"),
        ({"email": "a@example.com", "role": "god"}, "role"),
        ({"email": ["a@example.com"]}, "email"),
    ],
)
def test_invite_bad_input(owner_client, org, body, field):
    response = owner_client.post("/api/organizations/members", body, format="json")
    assert response.status_code == 400 and field in response.json()["details"]
    assert not Invitation.objects.for_org(org).exists()


# --- invitations list / revoke ------------------------------------------------------------
def test_invitations_list_pending_only(
    owner_client, org, owner, django_capture_on_commit_callbacks
):
    _invite(owner_client, django_capture_on_commit_callbacks, email="a@example.com")
    _invite(owner_client, django_capture_on_commit_callbacks, email="b@example.com")
    Invitation.objects.for_org(org).filter(email="b@example.com").update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = owner_client.get("/api/organizations/invitations")
    assert response.status_code == 200
    invitations = response.json()["invitations"]
    assert [i["email"] for i in invitations] == ["a@example.com"]
    assert {"id", "email", "role", "expires_at", "created_at", "invited_by"} == set(invitations[0])
    assert invitations[0]["invited_by"] == owner.email


def test_revoke_invitation(
    owner_client, admin_client, member_client, org, django_capture_on_commit_callbacks
):
    invitation_id = _invite(owner_client, django_capture_on_commit_callbacks).json()["invitation"][
        "id"
    ]
    token = _token_from_mail()
    assert (
        member_client.delete(f"/api/organizations/invitations/{invitation_id}").status_code == 403
    )
    response = admin_client.delete(f"/api/organizations/invitations/{invitation_id}")
    assert response.status_code == 200
    assert owner_client.get("/api/organizations/invitations").json()["invitations"] == []
    user = UserFactory(email="newmember@example.com")
    accept = client_for(user).post("/api/invitations/accept", {"token": token}, format="json")
    assert accept.status_code == 400 and "token" in accept.json()["details"]


@pytest.mark.parametrize("invitation_id", ["nope", "00000000-0000-0000-0000-000000000000"])
def test_revoke_unknown_invitation_is_404(owner_client, invitation_id):
    assert owner_client.delete(f"/api/organizations/invitations/{invitation_id}").status_code == 404


# --- accept ---------------------------------------------------------------------------------
def test_accept_joins_with_role_and_leaves_the_current_org_alone(
    owner_client, org, django_capture_on_commit_callbacks
):
    _invite(
        owner_client, django_capture_on_commit_callbacks, email="Joiner@Example.com", role="admin"
    )
    token = _token_from_mail()
    joiner = UserFactory(email="joiner@example.com")
    from organizations.services import organization_create

    own = organization_create(name="Joiner's own", owner=joiner)
    client = client_for(joiner)

    response = client.post("/api/invitations/accept", {"token": token}, format="json")

    assert response.status_code == 200
    assert (
        response.json()["organization"]["id"] == str(org.id) and response.json()["role"] == "admin"
    )
    assert Membership.objects.get(organization=org, user=joiner).role == Role.ADMIN
    # A CI token without X-Organization-Id must not start deploying somewhere else (CONTRACT §3:
    # header, else the last explicit switch, else the oldest membership).
    assert client.get("/api/organizations/current").json()["organization"]["id"] == str(own.id)
    used = client.post("/api/invitations/accept", {"token": token}, format="json")
    assert used.status_code == 400 and "token" in used.json()["details"]


def test_accept_with_other_email_is_403(owner_client, django_capture_on_commit_callbacks):
    _invite(owner_client, django_capture_on_commit_callbacks)
    token = _token_from_mail()
    response = client_for(UserFactory(email="someone-else@example.com")).post(
        "/api/invitations/accept", {"token": token}, format="json"
    )
    assert response.status_code == 403


def test_accept_expired_is_400(owner_client, org, django_capture_on_commit_callbacks):
    _invite(owner_client, django_capture_on_commit_callbacks)
    token = _token_from_mail()
    Invitation.objects.for_org(org).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client_for(UserFactory(email="newmember@example.com")).post(
        "/api/invitations/accept", {"token": token}, format="json"
    )
    assert (
        response.status_code == 400
        and response.json()["code"] == "VALIDATION_ERROR"
        and "token" in response.json()["details"]
    )


def test_accept_when_already_member_is_409(owner_client, org, member_user):
    from organizations.services import invitation_create

    # Invited before they joined another way.
    Membership.objects.filter(user=member_user).delete()
    _, token = invitation_create(
        organization=org,
        actor=None,
        actor_role=Role.OWNER,
        email=member_user.email,
        role=Role.MEMBER,
    )
    MembershipFactory(organization=org, user=member_user)
    response = client_for(member_user).post(
        "/api/invitations/accept", {"token": token}, format="json"
    )
    assert response.status_code == 409


@pytest.mark.parametrize("body", [{"token": "garbage"}, {}, {"token": 5}])
def test_accept_bad_token(owner_client, body):
    response = owner_client.post("/api/invitations/accept", body, format="json")
    assert response.status_code == 400 and "token" in response.json()["details"]


def test_accept_needs_a_user(anon_client, api_key_client, db):
    assert (
        anon_client.post("/api/invitations/accept", {"token": "x"}, format="json").status_code
        == 401
    )
    assert (
        api_key_client.post("/api/invitations/accept", {"token": "x"}, format="json").status_code
        == 403
    )


def test_invitation_page_accept_by_signed_in_user(
    client, owner_client, org, django_capture_on_commit_callbacks
):
    _invite(owner_client, django_capture_on_commit_callbacks)
    token = _token_from_mail()
    page = client.get(f"/invitations/{token}/")
    assert page.status_code == 200 and b"Acme" in page.content and b"Sign in" in page.content
    user = UserFactory(email="newmember@example.com")
    client.force_login(user)
    assert b"Accept invitation" in client.get(f"/invitations/{token}/").content
    response = client.post(f"/invitations/{token}/")
    assert response.status_code == 200 and b"Welcome to Acme" in response.content
    assert Membership.objects.filter(organization=org, user=user).exists()
    assert client.get(f"/invitations/{token}/").status_code == 400
    assert client.get("/invitations/garbage/").status_code == 404


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"expires_at": timezone.now() - timedelta(minutes=1)}, "This invitation has expired."),
        ({"revoked_at": timezone.now()}, "This invitation has been revoked."),
        ({"accepted_at": timezone.now()}, "This invitation has already been used."),
    ],
)
def test_invitation_page_gives_the_services_reason_for_an_unusable_invitation(
    client, org, owner, change, reason
):
    # One validity rule (services.invitation_check_usable) for the API and this page.
    invitation, token = invitation_create(
        organization=org,
        actor=owner,
        actor_role=Role.OWNER,
        email="newmember@example.com",
        role=Role.MEMBER,
    )
    Invitation.objects.for_org(org).filter(pk=invitation.pk).update(**change)
    client.force_login(UserFactory(email="newmember@example.com"))
    for response in (client.get(f"/invitations/{token}/"), client.post(f"/invitations/{token}/")):
        assert response.status_code == 400
        assert reason in response.content.decode()
        assert b"Accept invitation" not in response.content
    assert not Membership.objects.filter(organization=org, user__email=invitation.email).exists()


def test_invitation_page_other_email_cannot_accept(
    client, owner_client, org, django_capture_on_commit_callbacks
):
    _invite(owner_client, django_capture_on_commit_callbacks)
    token = _token_from_mail()
    client.force_login(UserFactory(email="intruder@example.com"))
    assert client.post(f"/invitations/{token}/").status_code == 403
    assert not Membership.objects.filter(
        organization=org, user__email="intruder@example.com"
    ).exists()


# --- remove / change role -------------------------------------------------------------------
def test_remove_member_seed_shape(admin_client, org, member_user):
    response = admin_client.delete(f"/api/organizations/members/{member_user.id}")
    assert response.status_code == 200 and response.json() == {
        "message": "Member removed successfully"
    }
    assert not Membership.objects.filter(organization=org, user=member_user).exists()
    assert (
        UsageEvent.objects.for_org(org)
        .filter(type=UsageEventType.MEMBER, metadata__action="removed")
        .exists()
    )


@pytest.mark.parametrize(
    ("actor", "target", "status"),
    [
        ("member", "admin", 403),
        ("member", "owner", 403),
        ("admin", "member", 200),
        ("admin", "admin2", 403),
        ("admin", "owner", 403),
        ("owner", "admin", 200),
        ("owner", "owner2", 200),
        ("api_key", "member", 403),
    ],
)
def test_remove_matrix(org, owner, admin_user, member_user, api_key, actor, target, status):
    users = {"owner": owner, "admin": admin_user, "member": member_user}
    users["admin2"] = MembershipFactory(organization=org, role=Role.ADMIN).user
    users["owner2"] = MembershipFactory(organization=org, role=Role.OWNER).user
    client = client_for(api_key=api_key.raw) if actor == "api_key" else client_for(users[actor])
    response = client.delete(f"/api/organizations/members/{users[target].id}")
    assert response.status_code == status
    assert Membership.objects.filter(organization=org, user=users[target]).exists() == (
        status != 200
    )


def test_member_may_leave(member_client, org, member_user):
    assert member_client.delete(f"/api/organizations/members/{member_user.id}").status_code == 200
    assert not Membership.objects.filter(organization=org, user=member_user).exists()


def test_last_owner_can_never_be_removed_or_demoted(owner_client, owner, org):
    response = owner_client.delete(f"/api/organizations/members/{owner.id}")
    assert response.status_code == 403 and response.json()["code"] == "PERMISSION_DENIED"
    demote = owner_client.patch(
        f"/api/organizations/members/{owner.id}", {"role": "admin"}, format="json"
    )
    assert demote.status_code == 403
    assert Membership.objects.get(organization=org, user=owner).role == Role.OWNER


def test_owner_may_leave_when_another_owner_remains(owner_client, owner, org):
    MembershipFactory(organization=org, role=Role.OWNER)
    assert owner_client.delete(f"/api/organizations/members/{owner.id}").status_code == 200


@pytest.mark.parametrize("user_id", ["nope", "00000000-0000-0000-0000-000000000000"])
def test_remove_unknown_member_is_404(owner_client, user_id):
    assert owner_client.delete(f"/api/organizations/members/{user_id}").status_code == 404


def test_remove_member_of_other_org_is_404(owner_client, other_owner, other_org):
    assert owner_client.delete(f"/api/organizations/members/{other_owner.id}").status_code == 404
    assert Membership.objects.filter(organization=other_org, user=other_owner).exists()


@pytest.mark.parametrize(
    ("actor", "target", "new_role", "status"),
    [
        ("member", "member2", "admin", 403),
        ("admin", "member", "admin", 200),
        ("admin", "member", "owner", 403),
        ("admin", "admin2", "member", 403),
        ("admin", "owner", "member", 403),
        ("owner", "admin", "member", 200),
        ("owner", "member", "owner", 200),
        ("owner", "owner2", "admin", 200),
    ],
)
def test_role_change_matrix(org, owner, admin_user, member_user, actor, target, new_role, status):
    users = {"owner": owner, "admin": admin_user, "member": member_user}
    users["admin2"] = MembershipFactory(organization=org, role=Role.ADMIN).user
    users["owner2"] = MembershipFactory(organization=org, role=Role.OWNER).user
    users["member2"] = MembershipFactory(organization=org, role=Role.MEMBER).user
    before = Membership.objects.get(organization=org, user=users[target]).role
    response = client_for(users[actor]).patch(
        f"/api/organizations/members/{users[target].id}", {"role": new_role}, format="json"
    )
    assert response.status_code == status
    after = Membership.objects.get(organization=org, user=users[target]).role
    assert after == (new_role if status == 200 else before)
    if status == 200:
        assert response.json()["member"]["role"] == new_role
        assert set(response.json()["member"]) == {"id", "user_id", "email", "role", "joined_at"}


def test_role_change_bad_input(owner_client, member_user):
    response = owner_client.patch(
        f"/api/organizations/members/{member_user.id}", {"role": "king"}, format="json"
    )
    assert response.status_code == 400 and "role" in response.json()["details"]
