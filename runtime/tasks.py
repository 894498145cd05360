"""The runtime app's Celery tasks, imported here for the worker's autodiscovery."""

from runtime.services import invocation_meter_retry

__all__ = ["invocation_meter_retry"]
