"""Requests Django refuses as too big or too many (SuspiciousOperation), and JSON too deeply nested
to decode, answer 400 in the envelope, not 500 (docs/CONTRACT.md §9: only bugs become 500s)."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

pytestmark = pytest.mark.django_db


def _assert_400(response):
    assert response.status_code == 400, response.content[:300]
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR" and body["error"]


def test_json_body_over_the_memory_limit_is_400(owner_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = json.dumps({"name": "x" * 2048})
    _assert_400(owner_client.post("/api/agent-apps", body, content_type="application/json"))


def test_form_body_over_the_memory_limit_is_400(owner_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    _assert_400(
        owner_client.post(
            "/api/agent-apps",
            "name=" + "x" * 2048,
            content_type="application/x-www-form-urlencoded",
        )
    )


def test_too_many_form_fields_is_400(owner_client, anon_client):
    fields = "&".join(f"f{i}=1" for i in range(1100))
    _assert_400(
        owner_client.post(
            "/api/agent-apps", fields, content_type="application/x-www-form-urlencoded"
        )
    )
    _assert_400(
        anon_client.post(
            "/api/auth/login", fields, content_type="application/x-www-form-urlencoded"
        )
    )


def test_too_many_query_parameters_is_400(owner_client):
    _assert_400(owner_client.get("/api/agent-apps?" + "&".join(f"q{i}=1" for i in range(1100))))


def test_too_many_files_is_400(owner_client):
    files = {f"f{i}": SimpleUploadedFile(f"f{i}.txt", b"x") for i in range(120)}
    _assert_400(owner_client.post("/api/agent-apps", files, format="multipart"))


def test_json_nested_too_deeply_is_400(owner_client, anon_client):
    deep = "[" * 100_000 + "]" * 100_000
    _assert_400(owner_client.post("/api/agent-apps", deep, content_type="application/json"))
    _assert_400(anon_client.post("/api/auth/login", deep, content_type="application/json"))
