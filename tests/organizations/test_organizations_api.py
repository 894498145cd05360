"""Organizations: current, list, switch, delete (docs/API.md §2, docs/CONTRACT.md §3)."""

import pytest

from organizations.models import Membership, Organization, Role
from tests.conftest import client_for
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_current_seed_shape(owner_client, org):
    response = owner_client.get("/api/organizations/current")
    assert response.status_code == 200
    body = response.json()
    assert body["role"] == "owner"
    organization = body["organization"]
    assert {"id", "name", "credits", "created_at"} <= set(organization)
    assert (
        organization["id"] == str(org.id)
        and organization["name"] == "Acme"
        and organization["credits"] == org.credits
    )


@pytest.mark.parametrize(
    ("client_name", "role"),
    [("owner", "owner"), ("admin", "admin"), ("member", "member"), ("api_key", "member")],
)
def test_current_role_per_caller(role_clients, client_name, role):
    response = role_clients[client_name].get("/api/organizations/current")
    assert response.status_code == 200 and response.json()["role"] == role


def test_patch_seed_shape(owner_client, org):
    response = owner_client.patch(
        "/api/organizations/current", {"name": "New Company Name"}, format="json"
    )
    assert response.status_code == 200
    organization = response.json()["organization"]
    assert {"id", "name", "credits", "updated_at"} <= set(organization)
    assert organization["name"] == "New Company Name"
    org.refresh_from_db()
    assert org.name == "New Company Name"


def test_patch_require_signed_packages(admin_client, org):
    response = admin_client.patch(
        "/api/organizations/current", {"require_signed_packages": True}, format="json"
    )
    assert (
        response.status_code == 200
        and response.json()["organization"]["require_signed_packages"] is True
    )
    org.refresh_from_db()
    assert org.require_signed_packages and org.name == "Acme"


@pytest.mark.parametrize(
    ("client_name", "status"), [("owner", 200), ("admin", 200), ("member", 403), ("api_key", 403)]
)
def test_patch_roles(role_clients, org, client_name, status):
    response = role_clients[client_name].patch(
        "/api/organizations/current", {"name": "Renamed"}, format="json"
    )
    assert response.status_code == status
    if status == 403:
        assert response.json()["code"] == "PERMISSION_DENIED"
        org.refresh_from_db()
        assert org.name == "Acme"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": 12}, "name"),
        ({"require_signed_packages": "yes please"}, "require_signed_packages"),
        ({}, "name"),
    ],
)
def test_patch_bad_input(owner_client, org, body, field):
    response = owner_client.patch("/api/organizations/current", body, format="json")
    assert response.status_code == 400 and field in response.json()["details"]
    org.refresh_from_db()
    assert org.name == "Acme" and not org.require_signed_packages


def test_patch_cannot_change_credits(owner_client, org):
    before = org.credits
    owner_client.patch("/api/organizations/current", {"name": "N", "credits": 10**9}, format="json")
    org.refresh_from_db()
    assert org.credits == before


@pytest.mark.parametrize(
    ("client_name", "status"), [("admin", 403), ("member", 403), ("api_key", 403)]
)
def test_delete_needs_owner(role_clients, org, client_name, status):
    assert role_clients[client_name].delete("/api/organizations/current").status_code == status
    assert Organization.objects.filter(pk=org.pk).exists()


def test_owner_deletes_organization_and_everything_in_it(
    owner_client, owner, org, member_user, api_key
):
    response = owner_client.delete("/api/organizations/current")
    assert response.status_code == 200 and response.json() == {
        "message": "Organization deleted successfully"
    }
    assert not Organization.objects.filter(pk=org.pk).exists()
    assert not Membership.objects.filter(organization_id=org.pk).exists()
    # The key of a deleted organization fails at once.
    assert client_for(api_key=api_key.raw).get("/api/organizations/current").status_code == 401
    # Users stay; they just belong to one organization fewer.
    assert client_for(owner).get("/api/auth/session").json()["organization"] is None


def test_x_organization_id_selects_and_foreign_is_404(owner, org, other_org):
    second = Organization.objects.create(name="Second")
    MembershipFactory(organization=second, user=owner, role=Role.MEMBER)
    assert client_for(owner, org=second).get("/api/organizations/current").json()["organization"][
        "id"
    ] == str(second.id)
    foreign = client_for(owner, org=other_org).get("/api/organizations/current")
    assert foreign.status_code == 404 and foreign.json()["code"] == "NOT_FOUND"


def test_x_organization_id_malformed_is_400(owner_client):
    response = owner_client.get("/api/organizations/current", HTTP_X_ORGANIZATION_ID="not-a-uuid")
    assert response.status_code == 400 and response.json()["code"] == "VALIDATION_ERROR"
    assert "X-Organization-Id" in response.json()["details"]


def test_list_organizations_and_switch(owner_client, owner, org):
    second = Organization.objects.create(name="Second")
    MembershipFactory(organization=second, user=owner, role=Role.ADMIN)

    listing = owner_client.get("/api/organizations").json()["organizations"]
    assert [(o["name"], o["role"], o["current"]) for o in listing] == [
        ("Acme", "owner", True),
        ("Second", "admin", False),
    ]
    assert {"id", "name", "role", "credits", "created_at", "current"} == set(listing[0])

    response = owner_client.post(
        "/api/organizations/switch", {"organization_id": str(second.id)}, format="json"
    )
    assert response.status_code == 200
    assert (
        response.json()["organization"]["id"] == str(second.id)
        and response.json()["role"] == "admin"
    )
    assert owner_client.get("/api/organizations/current").json()["organization"]["id"] == str(
        second.id
    )
    assert [
        o["current"] for o in owner_client.get("/api/organizations").json()["organizations"]
    ] == [False, True]

    owner_client.post("/api/organizations/switch", {"organization_id": str(org.id)}, format="json")
    assert owner_client.get("/api/organizations/current").json()["organization"]["id"] == str(
        org.id
    )


def test_without_a_choice_the_oldest_membership_is_current(owner, org):
    second = Organization.objects.create(name="Second")
    MembershipFactory(organization=second, user=owner)
    assert client_for(owner).get("/api/organizations/current").json()["organization"]["id"] == str(
        org.id
    )


@pytest.mark.parametrize("value", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_switch_to_non_member_org_is_404(owner_client, value):
    response = owner_client.post(
        "/api/organizations/switch", {"organization_id": value}, format="json"
    )
    assert response.status_code == 404


def test_switch_to_foreign_org_is_404(owner_client, other_org):
    response = owner_client.post(
        "/api/organizations/switch", {"organization_id": str(other_org.id)}, format="json"
    )
    assert response.status_code == 404


def test_switch_bad_input(owner_client):
    assert owner_client.post("/api/organizations/switch", {}, format="json").status_code == 400
    assert (
        owner_client.post(
            "/api/organizations/switch", {"organization_id": 5}, format="json"
        ).status_code
        == 400
    )


def test_list_and_switch_refuse_api_keys(api_key_client, org):
    assert api_key_client.get("/api/organizations").status_code == 403
    assert (
        api_key_client.post(
            "/api/organizations/switch", {"organization_id": str(org.id)}, format="json"
        ).status_code
        == 403
    )


def test_user_without_organization_gets_404_on_org_routes(db):
    client = client_for(UserFactory())
    assert client.get("/api/organizations/current").status_code == 404
    assert client.get("/api/organizations").json() == {"organizations": []}


def test_deleting_the_organization_removes_its_stored_files(
    owner_client, org, django_capture_on_commit_callbacks
):
    from django.core.files.storage import default_storage

    from tests.factories import AgentAppFactory, PackageFactory

    package = PackageFactory(organization=org, agent_app=AgentAppFactory(organization=org))
    assert default_storage.exists(package.file.name)
    with django_capture_on_commit_callbacks(execute=True):
        assert owner_client.delete("/api/organizations/current").status_code == 200
    assert not default_storage.exists(package.file.name)
