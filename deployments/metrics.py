"""Queue gauges for GET /metrics, computed when it is read: each is one query on an index
(deployment_queue_idx, delivery_due_idx), so a scrape stays cheap however large the tables grow."""

from django.db.models import Count, Min
from django.utils import timezone

from deployments.models import DeliveryStatus, Deployment, DeploymentStatus, WebhookDelivery
from pixell.observability.metrics import GaugeMetricFamily


def deployments_queue_metrics():
    counts = dict(
        Deployment.all_orgs.filter(
            status__in=[DeploymentStatus.QUEUED, DeploymentStatus.PROCESSING]
        )
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    oldest = Deployment.all_orgs.filter(status=DeploymentStatus.QUEUED).aggregate(
        oldest=Min("queued_at")
    )["oldest"]
    pending = WebhookDelivery.all_orgs.filter(status=DeliveryStatus.PENDING).count()
    age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    yield GaugeMetricFamily(
        "pixell_deployments_queued",
        "Deployments waiting for a worker.",
        value=counts.get(DeploymentStatus.QUEUED, 0),
    )
    yield GaugeMetricFamily(
        "pixell_deployments_processing",
        "Deployments a worker is running.",
        value=counts.get(DeploymentStatus.PROCESSING, 0),
    )
    yield GaugeMetricFamily(
        "pixell_oldest_queued_deployment_age_seconds",
        "Seconds the oldest queued deployment has waited (0 when none waits).",
        value=max(age, 0.0),
    )
    yield GaugeMetricFamily(
        "pixell_webhook_deliveries_pending",
        "Webhook deliveries not yet delivered or given up.",
        value=pending,
    )
