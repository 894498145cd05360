"""Deleting an app with unfinished deployments: queued ones are cancelled and refunded first,
a running one makes the delete a 409 (its reserved credits would otherwise vanish in the cascade)."""

import pytest

from billing.selectors import ledger_drift
from deployments.models import Deployment, DeploymentStatus
from organizations.models import Organization
from tests.agentapps.packages import apkg_bytes, upload
from tests.factories import AgentAppFactory

pytestmark = pytest.mark.django_db


def _queue_deploy(client, app, version="1.0.0"):
    response = client.post(
        f"/api/agent-apps/{app.id}/packages/deploy",
        {"file": upload(apkg_bytes(version))},
        format="multipart",
    )
    assert response.status_code == 202, response.content
    return Deployment.all_orgs.get(id=response.json()["deployment"]["id"])


def test_queued_deployments_are_refunded_when_their_app_is_deleted(owner_client, org):
    app = AgentAppFactory(organization=org)
    _queue_deploy(owner_client, app)  # its on_commit nudge never runs here: it stays queued
    assert Organization.objects.get(pk=org.pk).credits == 99
    assert owner_client.delete(f"/api/agent-apps/{app.id}").status_code == 200
    assert Organization.objects.get(pk=org.pk).credits == 100
    assert not Deployment.all_orgs.filter(agent_app_id=app.id).exists()
    assert ledger_drift() == []


def test_an_app_with_a_running_deployment_cannot_be_deleted(owner_client, org):
    app = AgentAppFactory(organization=org)
    deployment = _queue_deploy(owner_client, app)
    Deployment.all_orgs.filter(pk=deployment.pk).update(status=DeploymentStatus.PROCESSING)
    response = owner_client.delete(f"/api/agent-apps/{app.id}")
    assert response.status_code == 409 and response.json()["code"] == "CONFLICT"
    assert Deployment.all_orgs.filter(pk=deployment.pk, status=DeploymentStatus.PROCESSING).exists()
    assert Organization.objects.get(pk=org.pk).credits == 99
