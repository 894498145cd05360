"""X-Request-ID on every response, a safe incoming one kept, and its travel into task headers."""

import pytest

from pixell.observability import tasks as task_signals
from pixell.observability.context import (
    CELERY_HEADER,
    accepted_request_id,
    deployment_id_var,
    request_id_var,
    task_name_var,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/api/health", "/api/unknown", "/login/", "/metrics", "/admin/"])
def test_every_response_has_a_request_id(anon_client, path):
    response = anon_client.get(path)
    assert len(response["X-Request-ID"]) == 32


def test_a_safe_incoming_id_is_kept(anon_client):
    response = anon_client.get("/api/health", HTTP_X_REQUEST_ID="ci-run-42:step.7")
    assert response["X-Request-ID"] == "ci-run-42:step.7"


@pytest.mark.parametrize("incoming", ["a" * 129, "has space", 'quote"d', "new\nline", "", "é"])
def test_an_unsafe_incoming_id_is_replaced(anon_client, incoming):
    response = anon_client.get("/api/health", HTTP_X_REQUEST_ID=incoming)
    assert response["X-Request-ID"] != incoming
    assert len(response["X-Request-ID"]) == 32


def test_128_characters_are_accepted():
    assert accepted_request_id("x" * 128) == "x" * 128


def test_request_id_goes_into_published_task_headers():
    headers = {}
    token = request_id_var.set("req-123")
    try:
        task_signals._stamp_request_id(headers=headers)
    finally:
        request_id_var.reset(token)
    assert headers[CELERY_HEADER] == "req-123"


def test_no_header_outside_a_request():
    headers = {}
    task_signals._stamp_request_id(headers=headers)
    assert CELERY_HEADER not in headers


class _Request:
    pixell_request_id = "req-abc"


class _Task:
    name = "deployments.tasks.deployment_process_task"
    request = _Request()


def test_worker_context_carries_request_task_and_deployment():
    task_signals._enter_task(task_id="t1", task=_Task(), args=("dep-1",), kwargs={})
    try:
        assert request_id_var.get() == "req-abc"
        assert task_name_var.get() == "deployments.tasks.deployment_process_task"
        assert deployment_id_var.get() == "dep-1"
    finally:
        task_signals._leave_task(task_id="t1", task=_Task(), state="SUCCESS")
    assert request_id_var.get() is None
    assert task_name_var.get() is None
    assert deployment_id_var.get() is None


def test_celery_logs_through_settings_logging():
    # Connected to setup_logging, so Celery does not install its own text handlers in the worker.
    from celery import signals

    receivers = [ref() for _, ref in signals.setup_logging.receivers]
    assert task_signals._use_settings_logging in receivers
