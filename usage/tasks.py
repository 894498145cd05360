from celery import shared_task

from usage.services import usage_events_purge, usage_exports_purge, usage_rollup_flush


@shared_task(time_limit=120, soft_time_limit=100)
def usage_rollup_flush_task() -> int:
    """Beat, every minute: API-call counters from the cache into ApiCallDaily. Safe to run twice."""
    return usage_rollup_flush()


@shared_task(time_limit=600, soft_time_limit=540)
def usage_exports_purge_task() -> int:
    """Beat, hourly: remove export files whose links have expired."""
    return usage_exports_purge()


@shared_task(time_limit=900, soft_time_limit=840)
def usage_events_purge_task() -> int:
    """Beat, daily: raw usage events older than PIXELL_RETENTION_USAGE_EVENTS_DAYS (rollups stay)."""
    return usage_events_purge()
