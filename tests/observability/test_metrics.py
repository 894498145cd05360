"""GET /metrics: 404 without the token, Prometheus text with the named gauges, request counts by
status, a latency histogram, task, webhook and credit counters."""

import pytest
from django.utils import timezone

from pixell.observability import metrics

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-for-tests"


@pytest.fixture
def token(settings):
    settings.PIXELL_METRICS_TOKEN = TOKEN
    return TOKEN


def _scrape(client, token=TOKEN):
    return client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")


def _value(text: str, prefix: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(prefix):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_unset_token_is_404(anon_client, settings):
    settings.PIXELL_METRICS_TOKEN = None
    response = _scrape(anon_client, "anything")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}", "Bearer "])
def test_wrong_or_missing_token_is_404(anon_client, token, header):
    kwargs = {"HTTP_AUTHORIZATION": header} if header else {}
    assert anon_client.get("/metrics", **kwargs).status_code == 404


def test_metrics_show_gauges_requests_and_histogram(anon_client, token):
    anon_client.get("/api/health")
    anon_client.get("/api/does-not-exist")
    response = _scrape(anon_client)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    for gauge in (
        "pixell_deployments_queued",
        "pixell_deployments_processing",
        "pixell_webhook_deliveries_pending",
        "pixell_oldest_queued_deployment_age_seconds",
    ):
        assert f"\n{gauge} " in text
    assert 'pixell_http_requests_total{method="GET",status="200",view="health"}' in text
    assert 'status="404"' in text
    assert "pixell_http_request_duration_seconds_bucket{" in text


def test_request_counter_grows(anon_client, token):
    before = _value(
        _scrape(anon_client).content.decode(),
        'pixell_http_requests_total{method="GET",status="200",view="health"}',
    )
    anon_client.get("/api/health")
    after = _value(
        _scrape(anon_client).content.decode(),
        'pixell_http_requests_total{method="GET",status="200",view="health"}',
    )
    assert after == before + 1


def test_task_webhook_and_credit_counters(anon_client, token):
    metrics.task_observed(
        task="deployments.tasks.deployment_process_task", state="SUCCESS", seconds=0.2
    )
    metrics.webhook_delivery_observed(outcome="succeeded")
    metrics.credits_sold(amount=1000)
    metrics.credits_used(amount=5)
    text = _scrape(anon_client).content.decode()
    assert (
        'pixell_celery_tasks_total{state="SUCCESS",task="deployments.tasks.deployment_process_task"}'
        in text
    )
    assert "pixell_celery_task_duration_seconds_bucket{" in text
    assert 'pixell_webhook_delivery_attempts_total{outcome="succeeded"}' in text
    assert _value(text, "pixell_credits_sold_total") >= 1000
    assert _value(text, "pixell_credits_used_total") >= 5


def test_purchase_counts_credits_sold(anon_client, token, org):
    from billing.models import TransactionType
    from billing.services import credits_apply

    prefix = "pixell_credits_sold_total"
    before = _value(_scrape(anon_client).content.decode(), prefix)
    credits_apply(organization=org, amount=700, type=TransactionType.PURCHASE, description="t")
    # on_commit callbacks run at once outside a test transaction; here pytest-django holds one.
    from django.db import connection

    for _, callback, *_ in connection.run_on_commit:
        callback()
    connection.run_on_commit = []
    after = _value(_scrape(anon_client).content.decode(), prefix)
    assert after == before + 700


def test_queue_gauges(anon_client, token, org):
    from datetime import timedelta

    from deployments.models import Deployment
    from tests.factories import (
        AgentAppFactory,
        DeploymentFactory,
        WebhookDeliveryFactory,
        WebhookFactory,
    )

    text = _scrape(anon_client).content.decode()
    assert "\npixell_oldest_queued_deployment_age_seconds 0.0" in text
    app = AgentAppFactory(organization=org)
    old = DeploymentFactory(organization=org, agent_app=app)
    Deployment.all_orgs.filter(id=old.id).update(queued_at=timezone.now() - timedelta(minutes=10))
    DeploymentFactory(organization=org, agent_app=app)
    DeploymentFactory(organization=org, agent_app=app, status="processing")
    DeploymentFactory(organization=org, agent_app=app, status="completed")
    WebhookDeliveryFactory(
        organization=org, webhook=WebhookFactory(organization=org, agent_app=app)
    )
    text = _scrape(anon_client).content.decode()
    assert _value(text, "pixell_deployments_queued ") == 2
    assert _value(text, "pixell_deployments_processing ") == 1
    assert _value(text, "pixell_webhook_deliveries_pending ") == 1
    assert 600 <= _value(text, "pixell_oldest_queued_deployment_age_seconds ") < 700


def test_clean_dead_processes_keeps_live_files(tmp_path):
    import os

    live = tmp_path / f"counter_{os.getpid()}.db"
    dead = tmp_path / "counter_999999999.db"
    live.write_bytes(b"x")
    dead.write_bytes(b"x")
    assert metrics.clean_dead_processes(str(tmp_path)) == 1
    assert live.exists() and not dead.exists()
