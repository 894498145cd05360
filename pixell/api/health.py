"""GET /api/health (docs/API.md §12): really touches the database, storage and auth, checks that every
stored secret can be decrypted, and answers 503 naming the failing service. Not authenticated and
not rate limited (monitors poll it)."""

import logging
import threading
import time
import uuid

from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.tokens import AccessToken

from pixell import crypto

logger = logging.getLogger(__name__)

PROBE_PREFIX = "health/"


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        if cursor.fetchone()[0] != 1:
            raise RuntimeError("unexpected answer")
    return "connected"


# The storage probe's last (result, monotonic time): anonymous callers share it for a few seconds,
# so hammering /api/health costs no storage write (three S3 requests) per call. Per process.
STORAGE_PROBE_SECONDS = 5.0
_storage_probe: tuple[str | None, float] = (None, 0.0)
_storage_probe_lock = threading.Lock()


def check_storage() -> str:
    global _storage_probe
    with _storage_probe_lock:
        result, at = _storage_probe
        if result is not None and time.monotonic() - at < STORAGE_PROBE_SECONDS:
            return result
        result = _probe_storage()  # raises on failure: a failure is never remembered
        _storage_probe = (result, time.monotonic())
        return result


def _probe_storage() -> str:
    # A write, a read and a delete of a tiny object: on S3 that is three real requests, so a
    # missing bucket or bad credentials show up here. A unique name keeps concurrent probes apart.
    name = default_storage.save(f"{PROBE_PREFIX}probe-{uuid.uuid4().hex}.txt", ContentFile(b"ok"))
    try:
        with default_storage.open(name, "rb") as handle:
            if handle.read() != b"ok":
                raise RuntimeError("probe read back different bytes")
    finally:
        default_storage.delete(name)
    return "connected"


def check_auth() -> str:
    # Sign and verify a token with the configured key, and round-trip the cache that holds the
    # revoked-token denylist and the rate-limit counters: auth is broken without either.
    token = AccessToken()
    AccessToken(str(token))
    key = f"health:{uuid.uuid4().hex}"
    cache.set(key, "ok", timeout=10)
    if cache.get(key) != "ok":
        raise RuntimeError("cache did not return what was written")
    cache.delete(key)
    return "operational"


class HealthProblem(Exception):
    """A failed check whose message is safe to show (it names no host and no credential)."""


# The secrets check's last (result, monotonic time), per process: it counts rows of three tables.
# A failure is remembered too: it lasts until an operator restores a key, and anonymous callers
# must not be able to make each call count again.
SECRETS_PROBE_SECONDS = 60.0
_secrets_probe: tuple[str | None, HealthProblem | None, float] = (None, None, 0.0)
_secrets_probe_lock = threading.Lock()


def check_secrets() -> str:
    """Whether every stored secret can be decrypted with PIXELL_SECRETS_KEY (docs/DECISIONS.md
    "Secrets-key rotation"): values under a key no longer listed are found by their key id in the
    database, without decrypting anything."""
    global _secrets_probe
    with _secrets_probe_lock:
        result, problem, at = _secrets_probe
        if (result or problem) and time.monotonic() - at < SECRETS_PROBE_SECONDS:
            if problem:
                raise problem
            return result
        counts = crypto.undecryptable_counts()
        problem = None
        if counts:
            detail = ", ".join(f"{label}: {count}" for label, count in counts.items())
            problem = HealthProblem(
                f"{sum(counts.values())} stored value(s) cannot be decrypted with "
                f"PIXELL_SECRETS_KEY ({detail})"
            )
        _secrets_probe = (None if problem else "operational", problem, time.monotonic())
        if problem:
            raise problem
        return "operational"


# The seed's three services, then ours: a key added to ``services`` keeps the seed's shape.
CHECKS = {
    "database": check_database,
    "storage": check_storage,
    "auth": check_auth,
    "secrets": check_secrets,
}


class HealthView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses={
            (200, "application/json"): inline_serializer(
                "Health",
                {
                    "status": serializers.ChoiceField(choices=["healthy", "unhealthy"]),
                    "timestamp": serializers.DateTimeField(),
                    "services": serializers.DictField(child=serializers.CharField()),
                },
            ),
            (503, "application/json"): inline_serializer(
                "HealthUnhealthy",
                {
                    "status": serializers.ChoiceField(choices=["unhealthy"]),
                    "timestamp": serializers.DateTimeField(),
                    "services": serializers.DictField(child=serializers.CharField()),
                },
            ),
        },
        auth=[],
    )
    def get(self, request):
        services = {}
        healthy = True
        for name, check in CHECKS.items():
            try:
                services[name] = check()
            except HealthProblem as exc:
                healthy = False
                logger.warning("Health check %s failed: %s", name, exc)
                services[name] = f"error: {exc}"
            except Exception as exc:
                healthy = False
                logger.exception("Health check %s failed", name)
                # The exception's class only: its message may hold hosts or credentials.
                services[name] = f"error: {type(exc).__name__}"
        body = {
            "status": "healthy" if healthy else "unhealthy",
            "timestamp": timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "services": services,
        }
        response = Response(body, status=200 if healthy else 503)
        response["Cache-Control"] = "no-store"
        return response
