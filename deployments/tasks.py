"""Celery tasks. Each takes ids, calls one service and is safe to run twice: a message is only a
nudge, the database rows are the record (docs/CONTRACT.md §5).

The two tasks that a loop re-enqueues from inside itself are defined beside that loop and
re-exported here, under the names they would have here: ``deployment_process_task``
(deployments/queue.py) and ``webhook_deliver_task`` (deployments/delivery.py).
"""

from celery import shared_task

from deployments import delivery, queue, services
from deployments.delivery import webhook_deliver_task
from deployments.queue import deployment_process_task

__all__ = [
    "deployment_process_task",
    "deployments_housekeeping_task",
    "deployments_sweep_task",
    "webhook_deliver_task",
    "webhook_deliveries_purge_task",
    "webhook_deliveries_sweep_task",
]


@shared_task(ignore_result=True)
def deployments_sweep_task() -> dict:
    """Beat, every few seconds: recover stuck jobs and process queued ones (lost messages)."""
    return queue.deployments_sweep()


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
