"""Celery tasks. Each takes ids, calls one service and is safe to run twice: a message is only a
nudge, the database rows are the record (docs/CONTRACT.md §5)."""

import logging

from celery import shared_task

from deployments import delivery, queue, services

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def deployment_process_task(deployment_id: str) -> None:
    """Run one deployment if it is still queued; nothing for a row that is gone or finished."""
    queue.deployment_process(deployment_id=deployment_id)


@shared_task(ignore_result=True)
def deployments_sweep_task() -> dict:
    """Beat, every few seconds: recover stuck jobs and process queued ones (lost messages)."""
    return queue.deployments_sweep()


@shared_task(ignore_result=True)
def webhook_deliver_task(delivery_id: str) -> None:
    delivery.webhook_deliver(delivery_id=delivery_id)


@shared_task(ignore_result=True)
def webhook_deliveries_sweep_task() -> int:
    """Beat: resend due deliveries whose countdown message was lost."""
    return delivery.webhook_deliveries_sweep()


@shared_task(ignore_result=True)
def deployments_housekeeping_task() -> int:
    """Beat, hourly: forget Idempotency-Key answers older than 24 h."""
    return services.idempotency_records_purge()


@shared_task(ignore_result=True, time_limit=900, soft_time_limit=840)
def webhook_deliveries_purge_task() -> dict:
    """Beat, hourly: webhook deliveries and attempt logs past PIXELL_RETENTION_WEBHOOK_DAYS."""
    return services.webhook_deliveries_purge()
