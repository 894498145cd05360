"""The Celery app and the one beat schedule.

Messages are only nudges: the database is the queue of record (docs/CONTRACT.md §5), so beat's sweeps
pick up whatever a lost message or a killed worker left behind.
"""

import os

from celery import Celery

from pixell import broker

# Every process that sends or receives tasks imports this module: the embedded broker's scheme
# (pixell-fs://, the default CELERY_BROKER_URL) must be known before the first connection.
broker.register()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pixell.settings")

app = Celery("pixell")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Request ids into task headers and worker log lines, task metrics (docs/OPERATIONS.md).
import pixell.observability.tasks  # noqa: E402, F401

# Every periodic job of the product, in one place. Apps register their entries here.
app.conf.beat_schedule = {}
# Usage: API-call counters (cache) into daily rollups; expired export files removed.
app.conf.beat_schedule["usage-rollup-flush"] = {
    "task": "usage.tasks.usage_rollup_flush_task",
    "schedule": 60.0,
}
app.conf.beat_schedule["usage-exports-purge"] = {
    "task": "usage.tasks.usage_exports_purge_task",
    "schedule": 3600.0,
}
# Accounts: token revocations and login-failure windows that have expired (docs/DECISIONS.md).
app.conf.beat_schedule["security-state-prune"] = {
    "task": "accounts.tasks.security_state_prune_task",
    "schedule": 3600.0,
}
# Deployments: the queue of record is the table; this sweep recovers stuck jobs and drains queued
# ones whose message was lost. Webhook deliveries: resend due ones whose countdown message was lost.
app.conf.beat_schedule["deployments-sweep"] = {
    "task": "deployments.tasks.deployments_sweep_task",
    "schedule": 10.0,
}
app.conf.beat_schedule["webhook-deliveries-sweep"] = {
    "task": "deployments.tasks.webhook_deliveries_sweep_task",
    "schedule": 30.0,
}
# Retention (docs/OPERATIONS.md "Retention"): each run deletes bounded batches and logs what it removed.
app.conf.beat_schedule["auth-tokens-purge"] = {
    "task": "accounts.tasks.auth_tokens_purge_task",
    "schedule": 3600.0,
}
app.conf.beat_schedule["webhook-deliveries-purge"] = {
    "task": "deployments.tasks.webhook_deliveries_purge_task",
    "schedule": 3600.0,
}
app.conf.beat_schedule["usage-events-purge"] = {
    "task": "usage.tasks.usage_events_purge_task",
    "schedule": 24 * 3600.0,
}
app.conf.beat_schedule["deployments-housekeeping"] = {
    "task": "deployments.tasks.deployments_housekeeping_task",
    "schedule": 3600.0,
}
