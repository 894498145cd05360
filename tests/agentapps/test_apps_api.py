"""/api/agent-apps (docs/API.md §4, docs/CONTRACT.md §3–4): shapes, names unique per organization, roles,
tenancy, public apps, no N+1, files removed with the app."""

from __future__ import annotations

import pytest

from agentapps import services
from agentapps.models import AgentApp, Package
from tests.agentapps.packages import apkg_bytes, upload
from usage.models import UsageEvent, UsageEventType

pytestmark = pytest.mark.django_db


def add_package(app, version="1.0.0", actor=None):
    return services.package_upload(
        organization=app.organization,
        agent_app=app,
        actor=actor,
        upload=upload(apkg_bytes(version)),
    )


# --- shapes --------------------------------------------------------------------------------------


def test_create_returns_the_seed_shape(owner_client, org):
    response = owner_client.post(
        "/api/agent-apps",
        {"name": "My New Agent", "description": "Desc", "is_public": False},
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"app"}
    assert set(body["app"]) == {"id", "name", "description", "is_public", "created_at"}
    assert body["app"]["name"] == "My New Agent"
    assert body["app"]["description"] == "Desc"
    assert body["app"]["is_public"] is False
    app = AgentApp.objects.for_org(org).get(pk=body["app"]["id"])
    assert app.created_by.email == "owner@example.com"
    assert (
        UsageEvent.objects.for_org(org)
        .filter(type=UsageEventType.APP, agent_app_id=app.id)
        .exists()
    )


def test_create_defaults_description_and_visibility(owner_client):
    body = owner_client.post("/api/agent-apps", {"name": "Bare"}, format="json").json()["app"]
    assert body["description"] == ""
    assert body["is_public"] is False


def test_list_returns_apps_with_their_live_packages(owner_client, app, org):
    first = add_package(app, "1.0.0")
    second = add_package(app, "1.1.0")
    deleted = add_package(app, "0.9.0")
    services.package_delete(package=deleted, actor=None)
    AgentApp.objects.for_org(org).create(organization=org, name="Empty")

    response = owner_client.get("/api/agent-apps")

    assert response.status_code == 200
    apps = response.json()["apps"]
    assert [a["name"] for a in apps] == ["Empty", "Support Bot"]  # newest first
    bot = apps[1]
    assert set(bot) == {"id", "name", "description", "is_public", "created_at", "packages"}
    assert [p["id"] for p in bot["packages"]] == [str(second.id), str(first.id)]
    assert set(bot["packages"][0]) == {"id", "version", "created_at"}
    assert apps[0]["packages"] == []


def test_list_runs_a_constant_number_of_queries(owner_client, org, django_assert_num_queries):
    def make(n):
        for i in range(n):
            app = AgentApp.objects.for_org(org).create(
                organization=org, name=f"App {len(AgentApp.all_orgs.all())}-{i}"
            )
            add_package(app, "1.0.0")
            add_package(app, "2.0.0")

    make(1)
    owner_client.get("/api/agent-apps")  # warm up (auth caches, last_used stamps)
    with django_assert_num_queries(4) as few:
        assert owner_client.get("/api/agent-apps").status_code == 200
    make(5)
    # Same count with 6 apps and 12 packages: apps + one prefetch, never a query per app.
    with django_assert_num_queries(len(few.captured_queries)):
        assert len(owner_client.get("/api/agent-apps").json()["apps"]) == 6


def test_get_includes_packages_with_download_links(owner_client, app):
    package = add_package(app, "1.0.0")

    response = owner_client.get(f"/api/agent-apps/{app.id}")

    assert response.status_code == 200
    body = response.json()["app"]
    assert set(body) == {"id", "name", "description", "is_public", "created_at", "packages"}
    (shown,) = body["packages"]
    assert set(shown) == {"id", "version", "s3_url", "size", "sha256", "status", "created_at"}
    assert shown["size"] == package.size
    assert shown["sha256"] == package.sha256
    assert shown["status"] == "ready"
    assert shown["s3_url"].startswith("http://testserver/api/packages/")


def test_patch_returns_the_seed_shape(owner_client, app):
    response = owner_client.patch(
        f"/api/agent-apps/{app.id}",
        {"name": "Updated Agent Name", "description": "New", "is_public": True},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()["app"]
    assert set(body) == {"id", "name", "description", "is_public", "updated_at"}
    assert (body["name"], body["description"], body["is_public"]) == (
        "Updated Agent Name",
        "New",
        True,
    )
    app.refresh_from_db()
    assert app.is_public is True


def test_patch_changes_only_given_fields(owner_client, app):
    owner_client.patch(f"/api/agent-apps/{app.id}", {"is_public": True}, format="json")
    app.refresh_from_db()
    assert (app.name, app.description, app.is_public) == ("Support Bot", "Helps", True)


def test_delete_answers_the_seed_message(admin_client, app):
    response = admin_client.delete(f"/api/agent-apps/{app.id}")
    assert response.status_code == 200
    assert response.json() == {"message": "Agent app deleted successfully"}
    assert not AgentApp.all_orgs.filter(pk=app.pk).exists()


# --- names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Support Bot", "support bot", "  SUPPORT BOT "])
def test_names_are_unique_per_organization_case_insensitively(owner_client, app, name):
    response = owner_client.post("/api/agent-apps", {"name": name}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "CONFLICT"


def test_the_same_name_in_another_organization_is_fine(other_client, app):
    assert (
        other_client.post("/api/agent-apps", {"name": "Support Bot"}, format="json").status_code
        == 201
    )


def test_renaming_onto_an_existing_name_conflicts(owner_client, app, org):
    other = AgentApp.objects.for_org(org).create(organization=org, name="Second")
    response = owner_client.patch(
        f"/api/agent-apps/{other.id}", {"name": "SUPPORT BOT"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "CONFLICT"
    # Renaming an app to its own name (another case) is no conflict.
    assert (
        owner_client.patch(
            f"/api/agent-apps/{app.id}", {"name": "support bot"}, format="json"
        ).status_code
        == 200
    )


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": 12}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "ok", "is_public": "yes"}, "is_public"),
        ({"name": "ok", "description": ["a"]}, "description"),
    ],
)
def test_bad_input_is_a_validation_error(owner_client, body, field):
    response = owner_client.post("/api/agent-apps", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert field in response.json()["details"]


# --- roles ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["owner", "admin", "member", "api_key"])
def test_every_role_reads_creates_and_updates(role_clients, who, app):
    client = role_clients[who]
    assert client.get("/api/agent-apps").status_code == 200
    assert client.get(f"/api/agent-apps/{app.id}").status_code == 200
    assert client.post("/api/agent-apps", {"name": f"by {who}"}, format="json").status_code == 201
    assert (
        client.patch(f"/api/agent-apps/{app.id}", {"description": who}, format="json").status_code
        == 200
    )


@pytest.mark.parametrize(
    "who, status", [("owner", 200), ("admin", 200), ("member", 403), ("api_key", 403)]
)
def test_deleting_an_app_needs_admin(role_clients, who, status, app):
    response = role_clients[who].delete(f"/api/agent-apps/{app.id}")
    assert response.status_code == status
    if status == 403:
        assert response.json()["code"] == "PERMISSION_DENIED"
        assert AgentApp.all_orgs.filter(pk=app.pk).exists()


def test_anonymous_callers_are_refused(anon_client, app):
    for response in (
        anon_client.get("/api/agent-apps"),
        anon_client.get(f"/api/agent-apps/{app.id}"),
    ):
        assert response.status_code == 401
        assert response.json()["code"] == "AUTHENTICATION_FAILED"


# --- tenancy and public apps --------------------------------------------------------------------------


def test_another_organizations_private_app_is_invisible(other_client, app):
    assert other_client.get("/api/agent-apps").json()["apps"] == []
    for response in (
        other_client.get(f"/api/agent-apps/{app.id}"),
        other_client.patch(f"/api/agent-apps/{app.id}", {"name": "x"}, format="json"),
        other_client.delete(f"/api/agent-apps/{app.id}"),
        other_client.get(f"/api/agent-apps/{app.id}/packages"),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "NOT_FOUND"


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_unknown_or_malformed_ids_are_404(owner_client, bad_id):
    response = owner_client.get(f"/api/agent-apps/{bad_id}")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


def test_public_apps_are_readable_by_any_signed_in_caller(
    owner_client, api_key_client, public_other_app
):
    add_package(public_other_app, "3.0.0")
    for client in (owner_client, api_key_client):
        response = client.get(f"/api/agent-apps/{public_other_app.id}")
        assert response.status_code == 200
        assert [p["version"] for p in response.json()["app"]["packages"]] == ["3.0.0"]
        packages = client.get(f"/api/agent-apps/{public_other_app.id}/packages")
        assert packages.status_code == 200
        assert [p["version"] for p in packages.json()["packages"]] == ["3.0.0"]
    # ... but they are not listed among the caller's own apps.
    assert owner_client.get("/api/agent-apps").json()["apps"] == []


def test_public_apps_are_changed_only_by_their_organization(owner_client, public_other_app):
    responses = [
        owner_client.patch(
            f"/api/agent-apps/{public_other_app.id}", {"name": "Hijacked"}, format="json"
        ),
        owner_client.delete(f"/api/agent-apps/{public_other_app.id}"),
        owner_client.post(
            f"/api/agent-apps/{public_other_app.id}/packages",
            {"file": upload(apkg_bytes())},
            format="multipart",
        ),
        owner_client.get(f"/api/agent-apps/{public_other_app.id}/secrets"),
    ]
    for response in responses:
        # Visible, so not a 404; not theirs to change.
        assert response.status_code == 403, response.json()
        assert response.json()["code"] == "PERMISSION_DENIED"
    public_other_app.refresh_from_db()
    assert public_other_app.name == "Public Bot"
    assert not Package.all_orgs.filter(agent_app=public_other_app).exists()


# --- deletion removes files ---------------------------------------------------------------------------


def test_deleting_an_app_removes_its_stored_files_after_commit(
    admin_client, app, org, stored, django_capture_on_commit_callbacks
):
    add_package(app, "1.0.0")
    add_package(app, "2.0.0")
    keep = AgentApp.objects.for_org(org).create(organization=org, name="Keep")
    kept = add_package(keep, "1.0.0")
    assert len(stored.keys(f"packages/{org.id}/{app.id}/")) == 2

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert admin_client.delete(f"/api/agent-apps/{app.id}").status_code == 200
    # Nothing is removed before the transaction commits (a rollback must not lose files).
    assert len(stored.keys(f"packages/{org.id}/{app.id}/")) == 2
    for callback in callbacks:
        callback()

    assert stored.keys(f"packages/{org.id}/{app.id}/") == []
    assert stored.keys(f"packages/{org.id}/") == [kept.file.name]
    assert not Package.all_orgs.filter(agent_app_id=app.id).exists()
