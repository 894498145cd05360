"""Logging filters for a console a developer can read (`make run`).

Beat's schedule fires a sweep every 10 seconds; Celery logs each firing three times (beat's "Sending
due task", the worker's "Received task" and "Task … succeeded"). Those INFO lines about the beat
schedule's own tasks are dropped; their warnings and errors, and every other task's lines, stay.
"""

from __future__ import annotations

import functools
import logging

from pixell.celery import app


@functools.cache
def _periodic_task_names() -> tuple[str, ...]:
    return tuple(sorted({entry["task"] for entry in app.conf.beat_schedule.values()}))


class QuietPeriodicTasks(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        message = record.getMessage()
        if message.startswith("Scheduler: Sending due task"):
            return False
        return not any(name in message for name in _periodic_task_names())
