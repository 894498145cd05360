"""GET /api/deployments/:id, GET /api/agent-apps/:id/deployments, POST /api/deployments/:id/cancel."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agentapps.models import Package
from billing.models import CreditTransaction
from deployments import queue
from deployments.models import Deployment
from organizations.models import Organization
from tests.deployments.conftest import deploy

pytestmark = pytest.mark.django_db


def accept(client, app, version="1.0.0", **fields) -> str:
    response = deploy(client, app, version, **fields)
    assert response.status_code == 202, response.json()
    return response.json()["deployment"]["id"]


def test_status_has_seed_shape_and_contract_fields(owner_client, app):
    deployment_id = accept(owner_client, app, release_notes="notes")
    queue.deployment_process(deployment_id=deployment_id)

    response = owner_client.get(f"/api/deployments/{deployment_id}")
    assert response.status_code == 200
    body = response.json()["deployment"]
    for key in (
        "id",
        "status",
        "package_id",
        "agent_app_id",
        "version",
        "created_at",
        "started_at",
        "progress",
    ):
        assert key in body
    assert body["status"] == "completed"
    assert body["agent_app_id"] == str(app.id)
    assert body["release_notes"] == "notes"
    assert body["error"] is None
    assert body["completed_at"].endswith("Z")
    assert body["duration_seconds"] >= 0
    assert "queue_position" not in body
    assert [s["name"] for s in body["progress"]["steps"]] == [
        "validate_package",
        "upload_to_s3",
        "generate_metadata",
        "notify_runtime",
        "finalize",
    ]
    assert {s["status"] for s in body["progress"]["steps"]} == {"completed", "skipped"}
    assert all(s["started_at"] and s["completed_at"] for s in body["progress"]["steps"])


def test_a_queued_deployment_shows_its_position_and_pending_steps(owner_client, app):
    body = owner_client.get(f"/api/deployments/{accept(owner_client, app)}").json()["deployment"]
    assert body["status"] == "queued"
    assert body["queue_position"] == 1
    assert (
        body["started_at"] is None
        and body["completed_at"] is None
        and body["duration_seconds"] is None
    )
    assert body["progress"]["current_step"] is None
    assert {s["status"] for s in body["progress"]["steps"]} == {"pending"}


def test_a_failed_deployment_names_its_error_and_step(owner_client, app):
    deployment_id = accept(owner_client, app)
    Package.all_orgs.filter(id=Deployment.all_orgs.get(id=deployment_id).package_id).update(
        sha256="0" * 64
    )
    queue.deployment_process(deployment_id=deployment_id)
    body = owner_client.get(f"/api/deployments/{deployment_id}").json()["deployment"]
    assert body["status"] == "failed"
    assert "does not match" in body["error"]
    assert body["progress"]["current_step"] == "upload_to_s3"
    failed = next(s for s in body["progress"]["steps"] if s["name"] == "upload_to_s3")
    assert failed["status"] == "failed" and failed["error"]


@pytest.mark.parametrize("who", ["owner", "admin", "member", "api_key"])
def test_every_role_reads_status(role_clients, owner_client, app, who):
    deployment_id = accept(owner_client, app)
    assert role_clients[who].get(f"/api/deployments/{deployment_id}").status_code == 200


def test_status_of_another_organization_is_404(owner_client, other_client, app):
    deployment_id = accept(owner_client, app)
    response = other_client.get(f"/api/deployments/{deployment_id}")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


@pytest.mark.parametrize("bad", ["nope", "00000000-0000-0000-0000-000000000000"])
def test_unknown_deployment_is_404(owner_client, bad):
    assert owner_client.get(f"/api/deployments/{bad}").status_code == 404


def test_anonymous_status_is_401(anon_client, owner_client, app):
    assert anon_client.get(f"/api/deployments/{accept(owner_client, app)}").status_code == 401


# --- an app's deployments ------------------------------------------------------------------------


def test_list_is_newest_first_and_paginates(owner_client, app):
    ids = [accept(owner_client, app, f"1.0.{n}") for n in range(5)]
    body = owner_client.get(f"/api/agent-apps/{app.id}/deployments?limit=2").json()
    assert [d["id"] for d in body["deployments"]] == ids[::-1][:2]
    assert body["next_cursor"]
    page2 = owner_client.get(
        f"/api/agent-apps/{app.id}/deployments?limit=2&cursor={body['next_cursor']}"
    ).json()
    assert [d["id"] for d in page2["deployments"]] == ids[::-1][2:4]
    everything = owner_client.get(f"/api/agent-apps/{app.id}/deployments").json()
    assert [d["id"] for d in everything["deployments"]] == ids[::-1]
    assert everything["next_cursor"] is None
    assert everything["deployments"][0]["queue_position"] == 5


def test_list_query_count_does_not_grow_with_rows(owner_client, app):
    for n in range(2):
        queue.deployment_process(deployment_id=accept(owner_client, app, f"1.0.{n}"))
    accept(owner_client, app, "2.0.0")  # one queued: its position is computed too
    with CaptureQueriesContext(connection) as few:
        owner_client.get(f"/api/agent-apps/{app.id}/deployments")
    for n in range(2, 8):
        queue.deployment_process(deployment_id=accept(owner_client, app, f"1.0.{n}"))
    for n in range(3):
        accept(owner_client, app, f"3.0.{n}")
    with CaptureQueriesContext(connection) as many:
        assert (
            len(owner_client.get(f"/api/agent-apps/{app.id}/deployments").json()["deployments"])
            == 12
        )
    assert len(many) == len(few)


def test_bad_limit_is_400(owner_client, app):
    assert owner_client.get(f"/api/agent-apps/{app.id}/deployments?limit=0").status_code == 400


def test_list_of_another_organizations_app_is_404(other_client, app):
    assert other_client.get(f"/api/agent-apps/{app.id}/deployments").status_code == 404


@pytest.mark.parametrize("who", ["owner", "admin", "member", "api_key"])
def test_every_role_lists(role_clients, app, who):
    assert role_clients[who].get(f"/api/agent-apps/{app.id}/deployments").status_code == 200


# --- cancel ------------------------------------------------------------------------------------------


def test_cancel_a_queued_deployment_refunds_and_frees_the_version(owner_client, app, org):
    deployment_id = accept(owner_client, app)
    response = owner_client.post(f"/api/deployments/{deployment_id}/cancel")
    assert response.status_code == 200
    assert response.json()["deployment"]["status"] == "cancelled"
    refund = CreditTransaction.objects.for_org(org).get(type="refund")
    assert refund.reference == f"deployment:{deployment_id}:refund" and refund.amount == 1
    assert Organization.objects.get(pk=org.pk).credits == 100
    assert deploy(owner_client, app, "1.0.0").status_code == 202  # version free again
    # A cancelled job is never run.
    assert queue.deployment_process(deployment_id=deployment_id) is None
    assert Deployment.all_orgs.get(id=deployment_id).status == "cancelled"


def test_cancel_once_started_is_409(owner_client, app, org):
    deployment_id = accept(owner_client, app)
    queue.deployment_claim(deployment_id=deployment_id, worker_id="w")
    response = owner_client.post(f"/api/deployments/{deployment_id}/cancel")
    assert response.status_code == 409
    assert response.json()["code"] == "CONFLICT"
    assert not CreditTransaction.objects.for_org(org).filter(type="refund").exists()


def test_cancel_twice_is_409_and_refunds_once(owner_client, app, org):
    deployment_id = accept(owner_client, app)
    assert owner_client.post(f"/api/deployments/{deployment_id}/cancel").status_code == 200
    assert owner_client.post(f"/api/deployments/{deployment_id}/cancel").status_code == 409
    assert CreditTransaction.objects.for_org(org).filter(type="refund").count() == 1


def test_cancel_of_another_organization_is_404(owner_client, other_client, app):
    deployment_id = accept(owner_client, app)
    assert other_client.post(f"/api/deployments/{deployment_id}/cancel").status_code == 404
    assert Deployment.all_orgs.get(id=deployment_id).status == "queued"


@pytest.mark.parametrize("who", ["member", "api_key"])
def test_members_and_api_keys_may_cancel(role_clients, app, who):
    deployment_id = accept(role_clients[who], app)
    assert role_clients[who].post(f"/api/deployments/{deployment_id}/cancel").status_code == 200
