"""GET /api/health (docs/API.md §12): real checks, 503 naming the failing service, never rate limited."""

import re

import pytest
from django.db import OperationalError

import pixell.api.health as health

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_storage_probe(monkeypatch):
    monkeypatch.setattr(health, "_storage_probe", (None, 0.0))
    monkeypatch.setattr(health, "_secrets_probe", (None, None, 0.0))


def test_healthy_seed_shape(anon_client):
    response = anon_client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["timestamp"])
    # The seed's three services, plus ours (stored secrets decryptable: docs/DECISIONS.md).
    assert body["services"] == {
        "database": "connected",
        "storage": "connected",
        "auth": "operational",
        "secrets": "operational",
    }


def test_storage_probe_leaves_nothing_behind(anon_client):
    from django.core.files.storage import default_storage

    anon_client.get("/api/health")
    _, files = default_storage.listdir("health") if default_storage.exists("health") else ([], [])
    assert files == []


def test_storage_failure_is_503_naming_storage(anon_client, monkeypatch):
    def broken_save(*args, **kwargs):
        raise OSError("bucket gone")

    monkeypatch.setattr(health.default_storage, "save", broken_save)
    response = anon_client.get("/api/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["services"]["storage"].startswith("error: ")
    assert body["services"]["database"] == "connected" and body["services"]["auth"] == "operational"
    assert "bucket gone" not in response.content.decode()  # messages may hold hosts or credentials


def test_database_failure_is_503_naming_database(anon_client, monkeypatch):
    class BrokenConnection:
        def cursor(self):
            raise OperationalError("connection refused")

    monkeypatch.setattr(health, "connection", BrokenConnection())
    response = anon_client.get("/api/health")
    assert response.status_code == 503
    assert response.json()["services"]["database"] == "error: OperationalError"


def test_auth_failure_is_503_naming_auth(anon_client, monkeypatch):
    monkeypatch.setattr(health.cache, "get", lambda *a, **k: None)
    response = anon_client.get("/api/health")
    assert response.status_code == 503 and response.json()["services"]["auth"].startswith("error: ")


def test_health_is_not_rate_limited(anon_client, settings):
    settings.PIXELL_RATE_LIMIT_ANONYMOUS = "2/m"
    for _ in range(5):
        response = anon_client.get("/api/health")
        assert response.status_code == 200
        assert "X-RateLimit-Limit" not in response


def test_storage_probe_is_cached_for_a_few_seconds(anon_client, monkeypatch):
    # Anonymous callers must not make a storage write each (a cheap way to run up S3 requests).
    from django.core.files.storage import default_storage

    saves = []
    real_save = default_storage.save
    monkeypatch.setattr(
        health.default_storage, "save", lambda *a, **k: saves.append(1) or real_save(*a, **k)
    )
    for _ in range(5):
        assert anon_client.get("/api/health").status_code == 200
    assert len(saves) == 1
    monkeypatch.setattr(health, "_storage_probe", (None, 0.0))  # the few seconds have passed
    anon_client.get("/api/health")
    assert len(saves) == 2
