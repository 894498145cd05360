"""Log formatting: one JSON object per line when DEBUG is off (python-json-logger), every line
stamped with the request id and, in the worker, the task and deployment it belongs to."""

import logging

from pythonjsonlogger.json import JsonFormatter

from pixell import env
from pixell.observability.context import deployment_id_var, request_id_var, task_name_var


class ContextFilter(logging.Filter):
    """Adds ``request_id``, ``task`` and ``deployment_id`` to records made while they are known.
    A handler filter, so it applies to every logger (Django's, Celery's and ours)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = request_id_var.get()
        if request_id is not None and not hasattr(record, "request_id"):
            record.request_id = request_id
        task = task_name_var.get()
        if task is not None and not hasattr(record, "task"):
            record.task = task
        deployment_id = deployment_id_var.get()
        if deployment_id is not None and not hasattr(record, "deployment_id"):
            record.deployment_id = deployment_id
        return True


class PixellJsonFormatter(JsonFormatter):
    """python-json-logger's formatter with the field names operators' log tools expect."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("fmt", "%(asctime)s %(levelname)s %(name)s %(message)s")
        kwargs.setdefault(
            "rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"}
        )
        kwargs.setdefault("datefmt", "%Y-%m-%dT%H:%M:%S%z")
        super().__init__(*args, **kwargs)


def log_format(*, debug: bool) -> str:
    """PIXELL_LOG_FORMAT: ``json`` unless DEBUG (one reading for settings and gunicorn's master)."""
    return env.get_choice("PIXELL_LOG_FORMAT", "text" if debug else "json", ("json", "text"))


def logging_config(*, json_lines: bool, level: str = "INFO") -> dict:
    """settings.LOGGING: JSON lines in production, readable lines while developing."""
    if json_lines:
        formatter = {"()": "pixell.observability.logs.PixellJsonFormatter"}
    else:
        formatter = {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": "pixell.observability.logs.ContextFilter"},
            "quiet_periodic_tasks": {"()": "pixell.logfilters.QuietPeriodicTasks"},
        },
        "formatters": {"default": formatter},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["context"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.request": {"level": "ERROR"},
            # The request line below replaces runserver's own, which logs unredacted paths.
            "django.server": {"level": "WARNING"},
            # Not a line per beat tick (pixell/logfilters.py).
            **{
                name: {"filters": ["quiet_periodic_tasks"]}
                for name in ("celery.beat", "celery.worker.strategy", "celery.app.trace")
            },
        },
    }
