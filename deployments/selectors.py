"""Reads of deployments, the queue and webhooks. Another organization's object is a NotFound."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Prefetch, Q
from django.utils import timezone

from agentapps.models import AgentApp
from agentapps.selectors import agent_app_get
from deployments.models import (
    Deployment,
    DeploymentStatus,
    Webhook,
    WebhookDelivery,
)
from pixell.api.pagination import paginate
from pixell.errors import NotFound

DEFAULT_ESTIMATED_DURATION_SECONDS = 120

# Queue health thresholds (GET /api/deployments/queue/stats), documented in docs/DECISIONS.md.
HEALTH_WARNING_QUEUED = 50
HEALTH_WARNING_FAILURE_RATE = 0.20
HEALTH_FAILURE_RATE_MIN_FINISHED = 5


def agent_app_of_org(*, organization, app_id: uuid.UUID) -> AgentApp:
    """The organization's own app: deploys, deployments and webhooks belong to its owners only."""
    return agent_app_get(organization=organization, app_id=app_id)


def _with_steps(qs):
    # Ordered by position (DeploymentStep.Meta.ordering), so pages and presenters use them as they
    # come, without sorting again.
    return qs.prefetch_related("steps")


def deployment_get(*, organization, deployment_id: uuid.UUID) -> Deployment:
    deployment = (
        _with_steps(Deployment.objects.for_org(organization)).filter(id=deployment_id).first()
    )
    if deployment is None:
        raise NotFound("Deployment not found")
    return deployment


def deployment_list_for_app(*, organization, agent_app, cursor: str | None, limit: int):
    qs = _with_steps(Deployment.objects.for_org(organization).filter(agent_app=agent_app))
    return paginate(qs, cursor=cursor, limit=limit)


def deployment_list_for_organization(*, organization, cursor: str | None, limit: int):
    """The organization's deployments of every app, newest first (the dashboard's list)."""
    return paginate(
        Deployment.objects.for_org(organization).select_related("agent_app"),
        cursor=cursor,
        limit=limit,
    )


def queue_position(deployment: Deployment) -> int | None:
    """1-based place among every queued deployment (workers serve all organizations in order)."""
    if deployment.status != DeploymentStatus.QUEUED:
        return None
    ahead = Deployment.all_orgs.filter(status=DeploymentStatus.QUEUED).filter(
        Q(queued_at__lt=deployment.queued_at)
        | Q(queued_at=deployment.queued_at, id__lt=deployment.id)
    )
    return ahead.count() + 1


def queue_positions(deployments) -> dict:
    """Positions of the queued ones among ``deployments`` in one query (lists stay O(1) queries)."""
    queued = [d for d in deployments if d.status == DeploymentStatus.QUEUED]
    if not queued:
        return {}
    latest = max(d.queued_at for d in queued)
    order = Deployment.all_orgs.filter(
        status=DeploymentStatus.QUEUED, queued_at__lte=latest
    ).order_by("queued_at", "id")
    index = {
        pk: position for position, pk in enumerate(order.values_list("id", flat=True), start=1)
    }
    return {d.id: index.get(d.id) for d in queued}


def average_processing_seconds(*, sample: int = 100) -> float | None:
    """Mean start-to-finish time of the latest completed deployments."""
    rows = (
        Deployment.all_orgs.filter(
            status=DeploymentStatus.COMPLETED, started_at__isnull=False, completed_at__isnull=False
        )
        .order_by("-completed_at")
        .values_list("started_at", "completed_at")[:sample]
    )
    durations = [(done - started).total_seconds() for started, done in rows]
    if not durations:
        return None
    return sum(durations) / len(durations)


def estimated_duration_seconds() -> int:
    average = average_processing_seconds()
    return DEFAULT_ESTIMATED_DURATION_SECONDS if average is None else max(1, round(average))


def stuck_cutoff(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(
        seconds=settings.PIXELL_DEPLOYMENT_HEARTBEAT_TIMEOUT_SECONDS
    )


@dataclass(frozen=True)
class QueueStats:
    counts: dict
    stuck: int
    failure_rate_last_hour: float | None
    finished_last_hour: int
    avg_processing_seconds: float | None
    health_status: str
    health_message: str


def queue_stats(*, now: datetime | None = None) -> QueueStats:
    now = now or timezone.now()
    by_status = dict(
        Deployment.all_orgs.values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    counts = {status: by_status.get(status, 0) for status in DeploymentStatus.values}
    counts["total"] = sum(by_status.values())
    stuck = Deployment.all_orgs.filter(
        status=DeploymentStatus.PROCESSING, heartbeat_at__lt=stuck_cutoff(now)
    ).count()
    recent = dict(
        Deployment.all_orgs.filter(
            status__in=(DeploymentStatus.COMPLETED, DeploymentStatus.FAILED),
            completed_at__gte=now - timedelta(hours=1),
        )
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    finished = recent.get(DeploymentStatus.COMPLETED, 0) + recent.get(DeploymentStatus.FAILED, 0)
    failure_rate = recent.get(DeploymentStatus.FAILED, 0) / finished if finished else None

    if stuck:
        status, message = (
            "critical",
            f"{stuck} deployment(s) stuck in processing past the heartbeat timeout",
        )
    elif counts[DeploymentStatus.QUEUED] > HEALTH_WARNING_QUEUED:
        status, message = (
            "warning",
            f"High queue depth: {counts[DeploymentStatus.QUEUED]} deployments queued",
        )
    elif (
        failure_rate is not None
        and finished >= HEALTH_FAILURE_RATE_MIN_FINISHED
        and failure_rate > HEALTH_WARNING_FAILURE_RATE
    ):
        status, message = (
            "warning",
            f"High failure rate: {failure_rate:.0%} of deployments failed in the last hour",
        )
    else:
        status, message = "healthy", "Queue is operating normally"
    return QueueStats(
        counts=counts,
        stuck=stuck,
        failure_rate_last_hour=failure_rate,
        finished_last_hour=finished,
        avg_processing_seconds=average_processing_seconds(),
        health_status=status,
        health_message=message,
    )


def webhook_list_for_app(*, organization, agent_app):
    return list(
        Webhook.objects.for_org(organization)
        .filter(agent_app=agent_app)
        .order_by("-created_at", "-id")
    )


def webhook_get(*, organization, agent_app, webhook_id: uuid.UUID) -> Webhook:
    webhook = (
        Webhook.objects.for_org(organization).filter(agent_app=agent_app, id=webhook_id).first()
    )
    if webhook is None:
        raise NotFound("Webhook not found")
    return webhook


def _deliveries(organization):
    return WebhookDelivery.objects.for_org(organization).prefetch_related(Prefetch("attempt_log"))


def delivery_list_for_webhook(*, organization, webhook, cursor: str | None, limit: int):
    return paginate(_deliveries(organization).filter(webhook=webhook), cursor=cursor, limit=limit)


def delivery_get(*, organization, webhook, delivery_id: uuid.UUID) -> WebhookDelivery:
    delivery = _deliveries(organization).filter(webhook=webhook, id=delivery_id).first()
    if delivery is None:
        raise NotFound("Delivery not found")
    return delivery
