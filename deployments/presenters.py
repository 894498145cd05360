"""The JSON shapes of deployments and webhooks, built in one place.

Plain functions rather than DRF serializers because the same dicts are also stored (the first
answer to an idempotent deploy is replayed byte for byte) and sent (webhook payloads).
"""

from datetime import UTC, datetime

from django.conf import settings

from deployments.models import Deployment, DeploymentStatus, StepStatus, Webhook, WebhookDelivery


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, as DRF renders datetimes (and docs/API.md shows them)."""
    if value is None:
        return None
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def public_url(path: str) -> str:
    return f"{settings.PIXELL_PUBLIC_URL}{path}"


def deployment_status_url(deployment_id) -> str:
    return public_url(f"/api/deployments/{deployment_id}")


def webhooks_url(agent_app_id) -> str:
    return public_url(f"/api/agent-apps/{agent_app_id}/webhooks")


def deployment_accepted_body(*, deployment: Deployment, estimated_duration_seconds: int) -> dict:
    """The 202 answer of a deploy (docs/API.md §5 plus what the Kit reads, docs/pixell-kit.md §3.3)."""
    package = deployment.package
    return {
        "deployment": {
            "id": str(deployment.id),
            "status": deployment.status,
            "message": "Deployment queued successfully",
            "queued_at": iso(deployment.queued_at),
            "estimated_duration_seconds": estimated_duration_seconds,
            "cost": deployment.cost,
        },
        "package": {
            "id": str(package.id),
            "version": package.version,
            "size_bytes": package.size,
            "status": package.status,
        },
        "tracking": {
            "status_url": deployment_status_url(deployment.id),
            "webhook_url": webhooks_url(deployment.agent_app_id),
        },
    }


def current_step_name(deployment: Deployment, steps) -> str | None:
    if deployment.status == DeploymentStatus.FAILED:
        failed = next((s for s in steps if s.status == StepStatus.FAILED), None)
        return failed.name if failed else None
    if deployment.status != DeploymentStatus.PROCESSING:
        return None
    for step in steps:
        if step.status not in (StepStatus.COMPLETED, StepStatus.SKIPPED):
            return step.name
    return None


def step_body(step) -> dict:
    return {
        "name": step.name,
        "status": step.status,
        "started_at": iso(step.started_at),
        "completed_at": iso(step.completed_at),
        "error": step.error,
    }


def deployment_body(deployment: Deployment, *, queue_position: int | None = None) -> dict:
    """GET /api/deployments/:id's ``deployment`` (docs/API.md §9 plus docs/CONTRACT.md §5's fields).

    ``deployment.steps`` should be prefetched; the steps are ordered by position.
    """
    steps = list(deployment.steps.all())
    body = {
        "id": str(deployment.id),
        "status": deployment.status,
        "package_id": str(deployment.package_id),
        "agent_app_id": str(deployment.agent_app_id),
        "version": deployment.version,
        "release_notes": deployment.release_notes,
        "cost": deployment.cost,
        "created_at": iso(deployment.created_at),
        "queued_at": iso(deployment.queued_at),
        "started_at": iso(deployment.started_at),
        "completed_at": iso(deployment.completed_at),
        "duration_seconds": deployment.duration_seconds,
        "error": deployment.error,
        "attempts": deployment.attempts,
        "progress": {
            "current_step": current_step_name(deployment, steps),
            "steps": [step_body(s) for s in steps],
        },
    }
    if deployment.status == DeploymentStatus.QUEUED:
        body["queue_position"] = queue_position
    return body


def webhook_body(webhook: Webhook) -> dict:
    return {
        "id": str(webhook.id),
        "url": webhook.url,
        "events": list(webhook.events),
        "active": webhook.active,
        "created_at": iso(webhook.created_at),
        "disabled_at": iso(webhook.disabled_at),
        "consecutive_failures": webhook.consecutive_failures,
    }


def delivery_body(delivery: WebhookDelivery) -> dict:
    """A delivery with its attempt log (``attempt_log`` should be prefetched)."""
    return {
        "id": str(delivery.id),
        "webhook_id": str(delivery.webhook_id),
        "event": delivery.event,
        "message_id": delivery.message_id,
        "deployment_id": str(delivery.deployment_id) if delivery.deployment_id else None,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": iso(delivery.next_attempt_at) if delivery.status == "pending" else None,
        "last_status_code": delivery.last_status_code,
        "created_at": iso(delivery.created_at),
        "completed_at": iso(delivery.completed_at),
        "redelivery_of": str(delivery.redelivery_of_id) if delivery.redelivery_of_id else None,
        "attempt_log": [
            {
                "number": a.number,
                "requested_at": iso(a.requested_at),
                "status_code": a.status_code,
                "succeeded": a.succeeded,
                "duration_ms": a.duration_ms,
                "response_snippet": a.response_snippet,
                "error": a.error or None,
            }
            for a in sorted(delivery.attempt_log.all(), key=lambda a: a.number)
        ],
    }
