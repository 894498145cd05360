"""The operator admin: pages render, steps inline, actions go through the services."""

import pytest
from django.test import Client

from billing.models import CreditTransaction
from deployments import queue
from deployments.delivery import webhook_ping_create
from deployments.models import Deployment, WebhookDelivery
from deployments.services import webhook_create
from tests.deployments.conftest import deploy
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client():
    client = Client()
    client.force_login(UserFactory(email="ops@example.com", is_staff=True, is_superuser=True))
    return client


def accept(client, app, version="1.0.0") -> Deployment:
    return Deployment.all_orgs.get(id=deploy(client, app, version).json()["deployment"]["id"])


def action(staff_client, model: str, name: str, ids):
    return staff_client.post(
        f"/admin/deployments/{model}/",
        {"action": name, "_selected_action": [str(i) for i in ids]},
        follow=True,
    )


def test_pages_render_with_steps_inline_and_filters(staff_client, owner_client, app, org, settings):
    settings.PIXELL_WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    deployment = accept(owner_client, app)
    queue.deployment_process(deployment_id=deployment.id)
    webhook, _ = webhook_create(
        organization=org, agent_app=app, url="http://127.0.0.1:9/x", events=["deployment.failed"]
    )
    ping = webhook_ping_create(webhook=webhook)
    for page in (
        "/admin/deployments/deployment/",
        "/admin/deployments/deployment/?status__exact=completed",
        f"/admin/deployments/deployment/{deployment.id}/change/",
        "/admin/deployments/webhook/",
        f"/admin/deployments/webhook/{webhook.id}/change/",
        "/admin/deployments/webhookdelivery/?status__exact=pending",
        f"/admin/deployments/webhookdelivery/{ping.id}/change/",
        "/admin/deployments/idempotencyrecord/",
    ):
        response = staff_client.get(page)
        assert response.status_code == 200, page
    detail = staff_client.get(
        f"/admin/deployments/deployment/{deployment.id}/change/"
    ).content.decode()
    assert "validate_package" in detail and "notify_runtime" in detail
    assert (
        "secret_encrypted"
        not in staff_client.get(f"/admin/deployments/webhook/{webhook.id}/change/").content.decode()
    )


def test_cancel_action_refunds_queued_and_explains_others(staff_client, owner_client, app, org):
    queued = accept(owner_client, app, "1.0.0")
    done = accept(owner_client, app, "1.0.1")
    queue.deployment_process(deployment_id=done.id)
    response = action(staff_client, "deployment", "cancel_deployments", [queued.id, done.id])
    text = response.content.decode()
    assert "cancelled and refunded" in text and "only queued ones can be" in text
    assert Deployment.all_orgs.get(id=queued.id).status == "cancelled"
    assert Deployment.all_orgs.get(id=done.id).status == "completed"
    assert CreditTransaction.objects.for_org(org).filter(type="refund").count() == 1


def test_retry_action_requeues_a_failed_deployment_with_a_new_reservation(
    staff_client, owner_client, app, org
):
    failed = accept(owner_client, app)
    queue.deployment_fail(deployment_id=failed.id, error="runtime down")
    credits_before = org.__class__.objects.get(pk=org.pk).credits
    response = action(staff_client, "deployment", "retry_deployments", [failed.id])
    assert "retried as" in response.content.decode()
    retried = Deployment.all_orgs.exclude(id=failed.id).get()
    assert retried.status == "queued" and retried.version == failed.version
    assert org.__class__.objects.get(pk=org.pk).credits == credits_before - retried.cost
    queue.deployment_process(deployment_id=retried.id)
    assert Deployment.all_orgs.get(id=retried.id).status == "completed"


def test_retry_action_explains_why_a_completed_one_is_not_retried(staff_client, owner_client, app):
    done = accept(owner_client, app)
    queue.deployment_process(deployment_id=done.id)
    response = action(staff_client, "deployment", "retry_deployments", [done.id])
    assert "not retried" in response.content.decode()
    assert Deployment.all_orgs.count() == 1


def test_redeliver_action_sends_the_same_message(staff_client, org, app, settings):
    settings.PIXELL_WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    webhook, _ = webhook_create(
        organization=org, agent_app=app, url="http://127.0.0.1:9/x", events=["deployment.failed"]
    )
    ping = webhook_ping_create(webhook=webhook)
    response = action(staff_client, "webhookdelivery", "redeliver", [ping.id])
    assert "redelivery" in response.content.decode()
    again = WebhookDelivery.all_orgs.get(redelivery_of=ping)
    assert again.message_id == ping.message_id
