"""The admin index's operators' overview: queue, failures, webhook backlog, credits this month,
each linking to a filtered admin list that shows those rows."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from billing.models import TransactionType
from billing.services import credits_apply
from deployments.models import Deployment
from deployments.operations import operations_overview
from tests.factories import (
    AgentAppFactory,
    DeploymentFactory,
    UserFactory,
    WebhookDeliveryFactory,
    WebhookFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client():
    client = Client()
    client.force_login(UserFactory(email="ops@example.com", is_staff=True, is_superuser=True))
    return client


def test_overview_counts_and_links(staff_client, org):
    now = timezone.now()
    app = AgentAppFactory(organization=org)
    old = DeploymentFactory(organization=org, agent_app=app)
    Deployment.all_orgs.filter(id=old.id).update(queued_at=now - timedelta(minutes=30))
    DeploymentFactory(organization=org, agent_app=app)
    failed_recent = DeploymentFactory(organization=org, agent_app=app, status="failed")
    Deployment.all_orgs.filter(id=failed_recent.id).update(completed_at=now - timedelta(hours=2))
    failed_old = DeploymentFactory(organization=org, agent_app=app, status="failed")
    Deployment.all_orgs.filter(id=failed_old.id).update(completed_at=now - timedelta(hours=30))
    WebhookDeliveryFactory(
        organization=org, webhook=WebhookFactory(organization=org, agent_app=app)
    )
    credits_apply(
        organization=org, amount=1000, type=TransactionType.PURCHASE, description="top-up"
    )
    credits_apply(organization=org, amount=-3, type=TransactionType.USAGE, description="deploy")

    rows = {
        row["label"].split(" in ")[0].split(" (")[0]: row for row in operations_overview(now=now)
    }
    assert rows["Deployments queued"]["value"] == 2
    assert rows["Oldest queued deployment waiting"]["value"] == "30 min"
    assert rows["Deployments failed"]["value"] == 1
    assert rows["Webhook deliveries pending"]["value"] == 1
    assert rows["Credits sold"]["value"] == 1000
    assert rows["Credits used"]["value"] == 3

    page = staff_client.get("/admin/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Deployments failed in the last 24 h" in html
    assert "Webhook deliveries" in html  # verbose name plural reads well
    # Each link opens its filtered list, which shows exactly the rows counted.
    failed_list = staff_client.get(rows["Deployments failed"]["url"])
    assert failed_list.status_code == 200
    assert str(failed_recent.id) in failed_list.content.decode()
    assert str(failed_old.id) not in failed_list.content.decode()
    for row in rows.values():
        assert staff_client.get(row["url"]).status_code == 200, row
