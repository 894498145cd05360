"""Liveness touches nothing; readiness checks database, cache and broker, 503 in the envelope."""

import time

import pytest
from django.db import connection

import pixell.api.probes as probes


@pytest.fixture(autouse=True)
def _fresh_readiness(monkeypatch):
    monkeypatch.setattr(probes, "_ready_at", None)
    monkeypatch.setattr(probes, "_last_failure", None)


def test_live_touches_nothing(anon_client, monkeypatch):
    # No django_db mark: any database query in this test is an error.
    monkeypatch.setattr(probes.cache, "get", lambda *a, **k: pytest.fail("cache touched"))
    monkeypatch.setattr(probes, "check_broker", lambda: pytest.fail("broker touched"))
    response = anon_client.get("/api/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "alive"}
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_ready_checks_database_cache_and_broker(anon_client):
    response = anon_client.get("/api/health/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "connected", "cache": "connected", "broker": "connected"},
    }


@pytest.mark.django_db
@pytest.mark.parametrize("failing", ["database", "cache", "broker"])
def test_ready_is_503_naming_the_failing_dependency(anon_client, monkeypatch, failing):
    def broken():
        raise ConnectionError("secret-host:6379 refused")

    monkeypatch.setitem(probes.READINESS_CHECKS, failing, broken)
    response = anon_client.get("/api/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "SERVICE_UNAVAILABLE"
    assert failing in body["error"]
    assert body["details"][failing] == "error: ConnectionError"
    assert "secret-host" not in response.content.decode()


@pytest.mark.django_db
def test_probes_are_not_rate_limited(anon_client, settings):
    settings.PIXELL_RATE_LIMIT_ANONYMOUS = "1/h"
    for _ in range(3):
        assert anon_client.get("/api/health/ready").status_code == 200
        assert anon_client.get("/api/health/live").status_code == 200
    assert connection.is_usable()


@pytest.mark.django_db
def test_a_passing_readiness_is_remembered_briefly_and_a_failure_never(anon_client, monkeypatch):
    calls = []

    def counted():
        calls.append(1)
        return "connected"

    monkeypatch.setitem(probes.READINESS_CHECKS, "broker", counted)
    for _ in range(5):
        assert anon_client.get("/api/health/ready").status_code == 200
    assert len(calls) == 1  # a flood of probes costs one round of checks per READY_SECONDS
    monkeypatch.setattr(probes, "_ready_at", probes._ready_at - probes.READY_SECONDS)
    assert anon_client.get("/api/health/ready").status_code == 200
    assert len(calls) == 2

    def broken():
        raise ConnectionError("down")

    monkeypatch.setattr(probes, "_ready_at", None)
    monkeypatch.setitem(probes.READINESS_CHECKS, "broker", broken)
    assert anon_client.get("/api/health/ready").status_code == 503
    monkeypatch.setitem(probes.READINESS_CHECKS, "broker", counted)
    assert anon_client.get("/api/health/ready").status_code == 200  # checked again at once
    assert len(calls) == 3


@pytest.mark.django_db
def test_probes_during_a_slow_failing_check_do_not_queue(anon_client, monkeypatch):
    def broken():
        raise ConnectionError("down")

    monkeypatch.setitem(probes.READINESS_CHECKS, "broker", broken)
    assert anon_client.get("/api/health/ready").status_code == 503  # remembered as the last failure
    probes._ready_lock.acquire()  # another thread's check is under way
    try:
        started = time.monotonic()
        response = anon_client.get("/api/health/ready")
    finally:
        probes._ready_lock.release()
    assert response.status_code == 503 and response.json()["details"]["broker"].startswith("error")
    assert time.monotonic() - started < 1
