"""API keys (docs/API.md §3, docs/CONTRACT.md §2)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from freezegun import freeze_time

from organizations.keys import api_key_hash
from organizations.models import ApiKey
from tests.conftest import client_for
from usage.models import UsageEvent, UsageEventType

pytestmark = pytest.mark.django_db


def test_create_seed_shape_key_shown_once_and_stored_hashed(owner_client, org):
    response = owner_client.post("/api/api-keys", {"name": "Development Key"}, format="json")

    assert response.status_code == 201
    created = response.json()["apiKey"]
    assert {"id", "name", "key", "created_at"} <= set(created)
    assert created["name"] == "Development Key"
    raw = created["key"]
    assert raw.startswith("pac_") and len(raw) >= 4 + 43  # 256 bits, base64url
    row = ApiKey.objects.for_org(org).get(pk=created["id"])
    assert row.key_hash == api_key_hash(raw) and raw not in row.key_hash
    assert row.key_preview == raw[:12] + "..."
    listing = owner_client.get("/api/api-keys").json()["apiKeys"]
    assert raw not in str(listing)
    assert (
        UsageEvent.objects.for_org(org)
        .filter(type=UsageEventType.API_KEY, metadata__action="created")
        .exists()
    )
    # The new key works.
    assert client_for(api_key=raw).get("/api/organizations/current").status_code == 200


def test_list_seed_shape(owner_client, api_key):
    response = owner_client.get("/api/api-keys")
    assert response.status_code == 200
    (item,) = response.json()["apiKeys"]
    assert set(item) == {"id", "name", "key_preview", "last_used_at", "created_at"}
    assert item["key_preview"] == api_key.key_preview and item["last_used_at"] is None


@pytest.mark.parametrize(
    ("client_name", "status"), [("owner", 200), ("admin", 200), ("member", 403), ("api_key", 403)]
)
def test_list_roles(role_clients, client_name, status):
    assert role_clients[client_name].get("/api/api-keys").status_code == status


@pytest.mark.parametrize(
    ("client_name", "status"), [("owner", 201), ("admin", 201), ("member", 403), ("api_key", 403)]
)
def test_create_roles(role_clients, client_name, status):
    assert (
        role_clients[client_name].post("/api/api-keys", {"name": "k"}, format="json").status_code
        == status
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "name"), ({"name": ""}, "name"), ({"name": "x" * 101}, "name"), ({"name": 7}, "name")],
)
def test_create_bad_input(owner_client, org, body, field):
    response = owner_client.post("/api/api-keys", body, format="json")
    assert response.status_code == 400 and field in response.json()["details"]
    assert not ApiKey.objects.for_org(org).exists()


def test_delete_kills_key_at_once(owner_client, member_client, api_key, org):
    client = client_for(api_key=api_key.raw)
    assert client.get("/api/organizations/current").status_code == 200
    assert member_client.delete(f"/api/api-keys/{api_key.id}").status_code == 403
    response = owner_client.delete(f"/api/api-keys/{api_key.id}")
    assert response.status_code == 200 and response.json() == {
        "message": "API key deleted successfully"
    }
    dead = client.get("/api/organizations/current")
    assert dead.status_code == 401 and dead.json()["code"] == "AUTHENTICATION_FAILED"
    assert (
        UsageEvent.objects.for_org(org)
        .filter(type=UsageEventType.API_KEY, metadata__action="deleted")
        .exists()
    )


def test_rotate_seed_shape_and_old_key_dies(admin_client, api_key, org):
    old = client_for(api_key=api_key.raw)
    response = admin_client.post(f"/api/api-keys/{api_key.id}/rotate")
    assert response.status_code == 200
    rotated = response.json()["apiKey"]
    assert {"id", "name", "key", "rotated_at"} <= set(rotated)
    assert rotated["id"] == str(api_key.id) and rotated["key"] != api_key.raw
    assert old.get("/api/organizations/current").status_code == 401
    assert client_for(api_key=rotated["key"]).get("/api/organizations/current").status_code == 200
    assert (
        UsageEvent.objects.for_org(org)
        .filter(type=UsageEventType.API_KEY, metadata__action="rotated")
        .exists()
    )


@pytest.mark.parametrize(("client_name", "status"), [("member", 403), ("api_key", 403)])
def test_rotate_roles(role_clients, api_key, client_name, status):
    assert (
        role_clients[client_name].post(f"/api/api-keys/{api_key.id}/rotate").status_code == status
    )


@pytest.mark.parametrize("key_id", ["nope", "00000000-0000-0000-0000-000000000000"])
def test_unknown_key_is_404(owner_client, key_id):
    assert owner_client.delete(f"/api/api-keys/{key_id}").status_code == 404
    assert owner_client.post(f"/api/api-keys/{key_id}/rotate").status_code == 404


def test_other_orgs_key_is_404(other_client, api_key):
    assert other_client.delete(f"/api/api-keys/{api_key.id}").status_code == 404
    assert other_client.post(f"/api/api-keys/{api_key.id}/rotate").status_code == 404
    assert ApiKey.all_orgs.filter(pk=api_key.pk, key_hash=api_key_hash(api_key.raw)).exists()


def test_api_key_acts_in_its_own_org_only(api_key_client, other_org):
    # X-Organization-Id cannot move a key to another organization.
    response = api_key_client.get(
        "/api/organizations/current", HTTP_X_ORGANIZATION_ID=str(other_org.id)
    )
    assert response.status_code == 200 and response.json()["organization"]["id"] != str(
        other_org.id
    )


def test_last_used_at_is_updated_but_not_on_every_request(api_key_client, api_key):
    assert api_key_client.get("/api/organizations/current").status_code == 200
    api_key.refresh_from_db()
    first = api_key.last_used_at
    assert first is not None and timezone.now() - first < timedelta(seconds=5)

    with CaptureQueriesContext(connection) as queries:
        assert api_key_client.get("/api/organizations/current").status_code == 200
    writes = [
        q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("UPDATE")
    ]
    assert writes == []
    api_key.refresh_from_db()
    assert api_key.last_used_at == first

    # Past the granularity window it is written again.
    with freeze_time(timezone.now() + timedelta(minutes=5), tick=True):
        api_key_client.get("/api/organizations/current")
        api_key.refresh_from_db()
        assert (
            first + timedelta(minutes=5)
            <= api_key.last_used_at
            < timezone.now() + timedelta(seconds=1)
        )


def test_second_api_key_request_makes_no_query(api_key_client):
    """A key this process has seen is confirmed by its organization's version token in the shared
    cache, not by the database (the identity cache of pixell.api.authentication)."""
    assert api_key_client.get("/api/organizations/current").status_code == 200
    with CaptureQueriesContext(connection) as queries:
        response = api_key_client.get("/api/organizations/current")
    assert response.status_code == 200 and response.json()["organization"]["credits"] == 100
    assert queries.captured_queries == []


def test_remembered_key_sees_balance_and_name_changes_at_once(api_key_client, org, owner_client):
    from billing.models import TransactionType
    from billing.services import credits_apply

    assert api_key_client.get("/api/organizations/current").json()["organization"]["credits"] == 100
    credits_apply(organization=org, amount=-40, type=TransactionType.USAGE, description="Deploy")
    assert api_key_client.get("/api/organizations/current").json()["organization"]["credits"] == 60
    assert (
        owner_client.patch(
            "/api/organizations/current", {"name": "Renamed"}, format="json"
        ).status_code
        == 200
    )
    assert (
        api_key_client.get("/api/organizations/current").json()["organization"]["name"] == "Renamed"
    )


def test_remembered_key_fails_at_once_after_rotation_and_deletion(
    api_key_client, api_key, owner_client
):
    assert api_key_client.get("/api/organizations/current").status_code == 200
    assert owner_client.post(f"/api/api-keys/{api_key.id}/rotate").status_code == 200
    assert api_key_client.get("/api/organizations/current").status_code == 401
    rotated = owner_client.post(f"/api/api-keys/{api_key.id}/rotate").json()["apiKey"]["key"]
    client = client_for(api_key=rotated)
    assert client.get("/api/organizations/current").status_code == 200
    assert owner_client.delete(f"/api/api-keys/{api_key.id}").status_code == 200
    assert client.get("/api/organizations/current").status_code == 401


def test_remembered_key_is_dropped_when_the_shared_token_is_lost(api_key_client, api_key):
    from django.core.cache import cache

    assert api_key_client.get("/api/organizations/current").status_code == 200
    cache.clear()  # e.g. Redis restarted: no token, so nothing remembered is trusted
    ApiKey.all_orgs.filter(pk=api_key.pk).delete()
    assert api_key_client.get("/api/organizations/current").status_code == 401
