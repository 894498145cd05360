"""Prometheus metrics (prometheus-client in multiprocess mode).

gunicorn's workers and the Celery worker's children are separate processes: each writes its
counters and histograms to memory-mapped files in ``PROMETHEUS_MULTIPROC_DIR`` (exported from
``PIXELL_METRICS_DIR`` by ``pixell.env.metrics_dir`` just below), and ``GET /metrics`` sums them.
Queue gauges are not kept by any process: they are read from the database at scrape time by
collectors that apps register (``register_scrape_collector``), so they are always true.
"""

import glob
import logging
import os
import re
from collections.abc import Callable, Iterable

from pixell import env

# Before prometheus_client is imported: it picks multiprocess mode at import.
METRICS_DIR = str(env.metrics_dir())

from prometheus_client import (  # noqa: E402
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric  # noqa: E402, F401

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REQUESTS = Counter(
    "pixell_http_requests",
    "HTTP requests answered, by view, method and status.",
    ["view", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "pixell_http_request_duration_seconds",
    "Time to answer an HTTP request, by view.",
    ["view", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
TASKS = Counter(
    "pixell_celery_tasks", "Celery tasks finished, by task and final state.", ["task", "state"]
)
TASK_SECONDS = Histogram(
    "pixell_celery_task_duration_seconds",
    "Time a Celery task ran, by task.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 900),
)
WEBHOOK_DELIVERIES = Counter(
    "pixell_webhook_delivery_attempts",
    "Outgoing webhook delivery attempts, by outcome.",
    ["outcome"],
)
CREDITS_SOLD = Counter("pixell_credits_sold", "Credits added to balances by purchases.")
CREDITS_USED = Counter("pixell_credits_used", "Credits charged for deployments (net of refunds).")

_scrape_collectors: list[Callable[[], Iterable[Metric]]] = []


def register_scrape_collector(collector: Callable[[], Iterable[Metric]]) -> None:
    """An app's function yielding metrics computed when /metrics is read (cheap queries only)."""
    if collector not in _scrape_collectors:
        _scrape_collectors.append(collector)


def _safely(function, *args, **kwargs) -> None:
    # A metric must never break the request, task or payment it describes.
    try:
        function(*args, **kwargs)
    except Exception:
        logger.warning("Could not record a metric", exc_info=True)


def request_observed(*, view: str, method: str, status: int, seconds: float) -> None:
    _safely(_request_observed, view, method, status, seconds)


def _request_observed(view, method, status, seconds):
    REQUESTS.labels(view, method, str(status)).inc()
    REQUEST_SECONDS.labels(view, method).observe(seconds)


def task_observed(*, task: str, state: str, seconds: float | None) -> None:
    _safely(TASKS.labels(task, state).inc)
    if seconds is not None:
        _safely(TASK_SECONDS.labels(task).observe, seconds)


def webhook_delivery_observed(*, outcome: str) -> None:
    _safely(WEBHOOK_DELIVERIES.labels(outcome).inc)


def credits_sold(*, amount: int) -> None:
    if amount > 0:
        _safely(CREDITS_SOLD.inc, amount)


def credits_used(*, amount: int) -> None:
    # Refunds are not subtracted: a counter only grows. Net usage is used minus refunded.
    if amount > 0:
        _safely(CREDITS_USED.inc, amount)


class _ScrapeTimeCollector:
    def collect(self):
        for collector in list(_scrape_collectors):
            try:
                yield from collector()
            except Exception:
                logger.exception("Metrics collector %s failed", getattr(collector, "__name__", ""))


def render() -> bytes:
    """The exposition text: every process's counters plus the scrape-time gauges."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=METRICS_DIR)
    registry.register(_ScrapeTimeCollector())
    return generate_latest(registry)


_PID_FILE = re.compile(r"_(\d+)\.db$")


def clean_dead_processes(path: str | None = None) -> int:
    """Removes the metric files of processes that no longer run (called when gunicorn's master
    and the Celery worker start). Live processes' files stay: web and worker share the folder
    and start independently, so neither may wipe it whole."""
    path = path or METRICS_DIR
    if not path or not os.path.isdir(path):
        return 0
    removed = 0
    for name in glob.glob(os.path.join(path, "*.db")):
        match = _PID_FILE.search(name)
        if match is None or _alive(int(match.group(1))):
            continue
        try:
            os.remove(name)
            removed += 1
        except FileNotFoundError:
            pass
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_dead(pid: int) -> None:
    """gunicorn's child_exit hook: live-sum gauges of the dead worker are dropped."""
    _safely(multiprocess.mark_process_dead, pid, METRICS_DIR)
