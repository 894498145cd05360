"""Celery signal handlers: the enqueuing request's id travels in the message headers, the
worker's log lines name the task and its deployment, and task outcomes and durations are
counted. Connected by pixell/celery.py, so web (publisher) and worker (consumer) both have them."""

import time
from logging.config import dictConfig

from celery import signals
from django.conf import settings

from pixell.observability import metrics
from pixell.observability.context import (
    CELERY_HEADER,
    accepted_request_id,
    deployment_id_var,
    request_id_var,
    task_name_var,
)

_started: dict[str, tuple[float, list]] = {}


@signals.before_task_publish.connect
def _stamp_request_id(sender=None, headers=None, **kwargs):
    request_id = request_id_var.get()
    if request_id is not None and headers is not None:
        headers.setdefault(CELERY_HEADER, request_id)


def _deployment_id(task, args, kwargs) -> str | None:
    # Deployment tasks take the id as their argument (deployments/tasks.py).
    kwargs = kwargs or {}
    if "deployment_id" in kwargs:
        return str(kwargs["deployment_id"])
    is_deployment_task = task is not None and task.name.startswith("deployments.tasks.deployment_")
    if is_deployment_task and args:
        return str(args[0])
    return None


@signals.task_prerun.connect
def _enter_task(task_id=None, task=None, args=None, kwargs=None, **_):
    incoming = getattr(task.request, CELERY_HEADER, None) if task is not None else None
    if incoming is None and task is not None:
        incoming = (getattr(task.request, "headers", None) or {}).get(CELERY_HEADER)
    tokens = [
        request_id_var.set(accepted_request_id(incoming) if incoming else request_id_var.get()),
        task_name_var.set(task.name if task is not None else None),
        deployment_id_var.set(_deployment_id(task, args, kwargs)),
    ]
    _started[task_id] = (time.monotonic(), tokens)


@signals.task_postrun.connect
def _leave_task(task_id=None, task=None, state=None, **_):
    started, tokens = _started.pop(task_id, (None, None))
    metrics.task_observed(
        task=task.name if task is not None else "unknown",
        state=state or "UNKNOWN",
        seconds=(time.monotonic() - started) if started is not None else None,
    )
    if tokens:
        deployment_id_var.reset(tokens[2])
        task_name_var.reset(tokens[1])
        request_id_var.reset(tokens[0])


@signals.setup_logging.connect
def _use_settings_logging(**_):
    # Connected, this replaces Celery's own logging setup: the worker and beat log through
    # settings.LOGGING (JSON lines with task, deployment and request ids when DEBUG is off).
    dictConfig(settings.LOGGING)


@signals.worker_init.connect
def _clean_metrics_at_start(**_):
    metrics.clean_dead_processes()


@signals.worker_process_shutdown.connect
def _worker_child_gone(pid=None, **_):
    if pid:
        metrics.process_dead(pid)
