from celery import shared_task

from usage.services import usage_exports_purge, usage_rollup_flush


@shared_task(time_limit=120, soft_time_limit=100)
def usage_rollup_flush_task() -> int:
    """Beat, every minute: API-call counters from the cache into ApiCallDaily. Safe to run twice."""
    return usage_rollup_flush()


@shared_task(time_limit=600, soft_time_limit=540)
def usage_exports_purge_task() -> int:
    """Beat, hourly: remove export files whose links have expired."""
    return usage_exports_purge()
