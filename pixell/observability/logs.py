"""Log formatting: one JSON object per line when DEBUG is off (python-json-logger), every line
stamped with the request id and, in the worker, the task and deployment it belongs to."""

import logging

from pythonjsonlogger.json import JsonFormatter

from pixell import env
from pixell.observability.context import deployment_id_var, request_id_var, task_name_var
from pixell.observability.redaction import redact_path


class ContextFilter(logging.Filter):
    """Adds ``request_id``, ``task`` and ``deployment_id`` to records made while they are known,
    and redacts the credentials of mailed links from Django's own lines. A handler filter, so it
    applies to every logger (Django's, Celery's and ours)."""

    def filter(self, record: logging.LogRecord) -> bool:
        _redact_django_record(record)
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


def _redact_django_record(record: logging.LogRecord) -> None:
    # django.request's "Internal Server Error: %s" names request.path, and its ``request`` extra
    # would be written whole by the JSON formatter (its repr holds the path and query): a 500 on
    # a reset or invitation link must not log the link's token (docs/DECISIONS.md).
    request = getattr(record, "request", None)
    if request is not None and hasattr(request, "get_full_path"):
        record.request = f"{request.method} {redact_path(request.get_full_path())}"
    if record.name.startswith("django.") and isinstance(record.args, tuple):
        record.args = tuple(
            redact_path(arg) if isinstance(arg, str) and arg.startswith("/") else arg
            for arg in record.args
        )


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
