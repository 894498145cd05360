"""Probes for load balancers and orchestrators (docs/OPERATIONS.md), beside the seed's
/api/health:

- ``GET /api/health/live``: the process answers; touches nothing (no database, cache or broker),
  so a slow dependency never gets healthy processes restarted. Kubernetes ``livenessProbe``.
- ``GET /api/health/ready``: database, cache and broker each answer; 503 in the error envelope
  naming the failing ones otherwise, so the load balancer stops sending traffic to this process
  while a dependency is down. Kubernetes ``readinessProbe``, a load balancer's health check.

Neither is authenticated or rate limited; neither writes anything. A passing readiness result is
remembered for READY_SECONDS per process, so a flood of probes (anyone may send them) costs at most
one round of checks per process every READY_SECONDS; a failure is checked again by the next probe,
while probes arriving during that check get the last failure instead of waiting behind it.
"""

import logging
import threading
import time
import uuid

from django.core.cache import cache
from django.http import JsonResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from pixell.api.exceptions import json_error
from pixell.api.health import check_database
from pixell.api.schema import ErrorEnvelopeSerializer
from pixell.celery import app

logger = logging.getLogger(__name__)

BROKER_TIMEOUT_SECONDS = 2
READY_SECONDS = 2
_ready_lock = threading.Lock()
_ready_at: float | None = None  # when the checks last all passed (time.monotonic())
_last_failure: tuple[dict, list] | None = None  # the last round's checks, when it failed


def check_cache() -> str:
    # A read of a key that does not exist: a round trip to Redis (or the file cache) and no write.
    cache.get(f"ready:{uuid.uuid4().hex}")
    return "connected"


def check_broker() -> str:
    with app.connection_for_read() as connection:
        connection.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
    return "connected"


READINESS_CHECKS = {"database": check_database, "cache": check_cache, "broker": check_broker}


def _no_store(response):
    response["Cache-Control"] = "no-store"
    return response


class _Probe(APIView):
    """No authentication, no throttle: a probe must answer whoever the orchestrator is."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []


class LiveView(_Probe):
    @extend_schema(
        summary="Liveness probe",
        responses=inline_serializer("Live", {"status": serializers.ChoiceField(choices=["alive"])}),
        auth=[],
    )
    def get(self, request):
        return _no_store(JsonResponse({"status": "alive"}))


class ReadyView(_Probe):
    @extend_schema(
        summary="Readiness probe",
        responses={
            200: inline_serializer(
                "Ready",
                {
                    "status": serializers.ChoiceField(choices=["ready"]),
                    "checks": serializers.DictField(child=serializers.CharField()),
                },
            ),
            503: OpenApiResponse(
                ErrorEnvelopeSerializer,
                description="A dependency is down; details name each check.",
            ),
        },
        auth=[],
    )
    def get(self, request):
        return _ready()


def _ready():
    global _ready_at, _last_failure
    if not _ready_lock.acquire(blocking=False):
        # Another thread is checking (a broker check may take BROKER_TIMEOUT_SECONDS): answer with
        # the last failure instead of queueing behind it; with none, wait for that check.
        if _last_failure is not None:
            return _not_ready(*_last_failure)
        _ready_lock.acquire()
    try:
        if _ready_at is not None and time.monotonic() - _ready_at < READY_SECONDS:
            return _no_store(JsonResponse({"status": "ready", "checks": _PASSED}))
        checks, failing = {}, []
        for name, check in READINESS_CHECKS.items():
            try:
                checks[name] = check()
            except Exception as exc:
                logger.warning("Readiness check %s failed", name, exc_info=True)
                # The exception's class only: its message may hold hosts or credentials.
                checks[name] = f"error: {type(exc).__name__}"
                failing.append(name)
        _ready_at = None if failing else time.monotonic()
        _last_failure = (checks, failing) if failing else None
    finally:
        _ready_lock.release()
    if failing:
        return _not_ready(checks, failing)
    return _no_store(JsonResponse({"status": "ready", "checks": checks}))


def _not_ready(checks, failing):
    return _no_store(
        json_error(503, f"Not ready: {', '.join(failing)}", "SERVICE_UNAVAILABLE", checks)
    )


_PASSED = dict.fromkeys(READINESS_CHECKS, "connected")
