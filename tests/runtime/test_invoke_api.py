"""POST /api/agent-apps/:id/invoke and GET …/runtime without real agents: the runtime client is
replaced by a stub, so these check the platform's rules (roles, tenancy, 402 before running, 409,
504, metering once). tests/runtime/test_local_runtime.py runs the same path with real agents."""

from __future__ import annotations

import io
import json

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import DatabaseError
from django.test.client import RequestFactory

from billing.models import CreditTransaction
from organizations.models import Organization
from pixell.observability.logs import ContextFilter
from runtime import client
from tests.conftest import client_for
from tests.factories import AgentAppFactory
from usage.models import UsageEvent


class StubRuntime:
    def __init__(self):
        self.calls = []
        self.answer = {"status": "success", "data": {"ok": True}, "error": None}
        self.raises = None

    def invoke(self, app_id, body, *, timeout):
        self.calls.append((str(app_id), body, timeout))
        if self.raises:
            raise self.raises
        return client.AgentAnswer(body=self.answer, version="1.2.0", deployment_id="d")


@pytest.fixture
def stub(monkeypatch):
    runtime = StubRuntime()
    monkeypatch.setattr(client, "invoke", runtime.invoke)
    return runtime


@pytest.fixture
def app(org):
    return AgentAppFactory(organization=org)


def _url(app):
    return f"/api/agent-apps/{app.id}/invoke"


def test_invoke_answers_and_meters_once(stub, role_clients, app, org):
    for role, api in role_clients.items():
        response = api.post(_url(app), {"action": "hi", "data": {"x": 1}}, format="json")
        assert response.status_code == 200, (role, response.json())
        invocation = response.json()["invocation"]
        assert invocation["status"] == "success" and invocation["data"] == {"ok": True}
        assert invocation["credits"] == 1 and invocation["version"] == "1.2.0"
        assert invocation["error"] is None and invocation["duration_ms"] >= 0
    assert len(stub.calls) == 4
    assert stub.calls[0][1] == b'{"action":"hi","data":{"x":1}}'
    usage = UsageEvent.objects.for_org(org).filter(type="invocation")
    assert usage.count() == 4 and {e.credits for e in usage} == {1}
    ledger = CreditTransaction.objects.for_org(org).filter(type="usage")
    assert ledger.count() == 4 and {t.amount for t in ledger} == {-1}


def test_agent_error_is_a_charged_200(stub, owner_client, app, org):
    stub.answer = {"status": "error", "data": None, "error": "ValueError: nope"}
    before = Organization.objects.get(pk=org.pk).credits
    response = owner_client.post(_url(app), {"action": "x", "data": {}}, format="json")
    assert response.status_code == 200
    assert response.json()["invocation"]["status"] == "error"
    assert response.json()["invocation"]["error"] == "ValueError: nope"
    assert Organization.objects.get(pk=org.pk).credits == before - 1


def test_402_before_running_anything(stub, owner_client, app, org):
    Organization.objects.filter(pk=org.pk).update(credits=0)
    response = owner_client.post(_url(app), {"action": "x"}, format="json")
    assert response.status_code == 402
    body = response.json()
    assert (
        body["code"] == "INSUFFICIENT_CREDITS" and body["required"] == 1 and body["available"] == 0
    )
    assert stub.calls == []


def test_not_running_is_409_and_uncharged(stub, owner_client, app, org):
    stub.raises = client.NotRunning()
    response = owner_client.post(_url(app), {"action": "x"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "NOT_RUNNING"
    assert not UsageEvent.objects.for_org(org).filter(type="invocation").exists()


def test_no_runtime_configured_is_409(owner_client, app, settings):
    settings.PIXELL_RUNTIME_URL = None
    response = owner_client.post(_url(app), {"action": "x"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "NOT_RUNNING"


def test_unreachable_runtime_is_503(owner_client, app, settings, org):
    settings.PIXELL_RUNTIME_URL = "http://127.0.0.1:9"  # discard port: nothing listens
    settings.PIXELL_RUNTIME_SECRET = "x" * 32
    response = owner_client.post(_url(app), {"action": "x"}, format="json")
    assert response.status_code == 503 and response.json()["code"] == "RUNTIME_UNAVAILABLE"
    assert not UsageEvent.objects.for_org(org).filter(type="invocation").exists()


def test_a_runtime_that_never_answers_is_504(owner_client, app, settings, org, monkeypatch):
    # The real client against a listener that accepts and stays silent: a read timeout (the
    # invocation may be running), unlike a refused connection (503 above).
    import socket

    monkeypatch.setattr(client, "READ_TIMEOUT_PAD", 0.2)
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        settings.PIXELL_RUNTIME_URL = f"http://127.0.0.1:{listener.getsockname()[1]}"
        settings.PIXELL_RUNTIME_SECRET = "x" * 32
        settings.PIXELL_INVOCATION_TIMEOUT_SECONDS = 0.1
        response = owner_client.post(_url(app), {"action": "x"}, format="json")
    finally:
        listener.close()
    assert response.status_code == 504 and response.json()["code"] == "INVOCATION_TIMEOUT"
    assert not UsageEvent.objects.for_org(org).filter(type="invocation").exists()


def test_a_connection_that_times_out_is_503(owner_client, app, settings, org, monkeypatch):
    # The request never reached the runtime: unavailable, not an invocation that ran too long.
    from urllib3.exceptions import ConnectTimeoutError

    def no_connection(*args, **kwargs):
        raise ConnectTimeoutError("connect timed out")

    monkeypatch.setattr(client._pool, "request", no_connection)
    settings.PIXELL_RUNTIME_URL = "http://10.255.255.1:4001"
    settings.PIXELL_RUNTIME_SECRET = "x" * 32
    response = owner_client.post(_url(app), {"action": "x"}, format="json")
    assert response.status_code == 503 and response.json()["code"] == "RUNTIME_UNAVAILABLE"
    assert not UsageEvent.objects.for_org(org).filter(type="invocation").exists()


def test_timeout_is_504_and_uncharged(stub, owner_client, app, org, settings):
    settings.PIXELL_INVOCATION_TIMEOUT_SECONDS = 7
    stub.raises = client.InvocationTimedOut()
    response = owner_client.post(_url(app), {"action": "x"}, format="json")
    assert response.status_code == 504 and "7 s" in response.json()["error"]
    assert stub.calls[0][2] == 7
    assert not UsageEvent.objects.for_org(org).filter(type="invocation").exists()


def test_invocation_credits_setting(stub, owner_client, app, org, settings):
    settings.PIXELL_INVOCATION_CREDITS = 3
    Organization.objects.filter(pk=org.pk).update(credits=2)
    assert owner_client.post(_url(app), {"action": "x"}, format="json").status_code == 402
    Organization.objects.filter(pk=org.pk).update(credits=5)
    response = owner_client.post(_url(app), {"action": "x"}, format="json")
    assert response.json()["invocation"]["credits"] == 3
    assert Organization.objects.get(pk=org.pk).credits == 2


def test_bad_input_is_a_400(stub, owner_client, app):
    for body in ({}, {"action": 5}, {"action": "x", "data": [1]}):
        response = owner_client.post(_url(app), body, format="json")
        assert response.status_code == 400, body
        assert response.json()["code"] == "VALIDATION_ERROR"
    assert stub.calls == []


def test_other_orgs_private_app_is_404(stub, other_client, app):
    assert other_client.post(_url(app), {"action": "x"}, format="json").status_code == 404
    assert other_client.get(f"/api/agent-apps/{app.id}/runtime").status_code == 404
    assert stub.calls == []


def test_public_app_is_billed_to_the_caller(stub, other_client, other_org, org):
    public = AgentAppFactory(organization=org, is_public=True)
    owner_before = Organization.objects.get(pk=org.pk).credits
    response = other_client.post(_url(public), {"action": "x"}, format="json")
    assert response.status_code == 200
    assert Organization.objects.get(pk=org.pk).credits == owner_before
    assert UsageEvent.objects.for_org(other_org).filter(type="invocation").count() == 1
    assert CreditTransaction.objects.for_org(other_org).filter(type="usage").count() == 1


def test_anonymous_is_401(anon_client, app):
    assert anon_client.post(_url(app), {"action": "x"}, format="json").status_code == 401
    assert anon_client.get(f"/api/agent-apps/{app.id}/runtime").status_code == 401


def test_runtime_read_without_a_runtime_is_stopped(owner_client, app, settings):
    settings.PIXELL_RUNTIME_URL = None
    response = owner_client.get(f"/api/agent-apps/{app.id}/runtime")
    assert response.status_code == 200
    assert response.json() == {
        "runtime": {
            "status": "stopped",
            "version": None,
            "deployment_id": None,
            "started_at": None,
            "log_tail": [],
        }
    }


def test_usage_metrics_count_invocations(stub, owner_client, app):
    for _ in range(2):
        owner_client.post(_url(app), {"action": "x"}, format="json")
    metrics = owner_client.get("/api/usage/metrics").json()
    assert metrics["invocations"] == 2


def _wsgi_invoke(app, api_key, request_id="req-after-answer"):
    """Call the WSGI application as a server does: the answer first, ``close()`` after sending it."""
    body = json.dumps({"action": "x", "data": {}}).encode()
    environ = RequestFactory()._base_environ(
        PATH_INFO=_url(app),
        REQUEST_METHOD="POST",
        CONTENT_TYPE="application/json",
        CONTENT_LENGTH=str(len(body)),
        HTTP_AUTHORIZATION=f"Bearer {api_key.raw}",
        HTTP_X_REQUEST_ID=request_id,
    )
    environ["wsgi.input"] = io.BytesIO(body)
    statuses = []
    # WSGIHandler, not get_wsgi_application(): that one runs django.setup() again, which would
    # reconfigure logging under the test's log capture.
    response = WSGIHandler()(environ, lambda status, headers: statuses.append(status))
    return statuses[0], json.loads(b"".join(response)), response


@pytest.fixture
def funded(org):
    Organization.objects.filter(pk=org.pk).update(credits=1000)
    return org


@pytest.fixture
def pixell_logs(caplog):
    """Captured records, stamped with the request id as the console handler's filter does."""
    caplog.handler.addFilter(ContextFilter())
    return caplog


@pytest.mark.django_db(transaction=True)
def test_the_answer_is_metered_after_it_is_sent(stub, app, funded, api_key):
    status, answer, response = _wsgi_invoke(app, api_key)
    assert status.startswith("200") and answer["invocation"]["credits"] == 1
    usage = UsageEvent.objects.for_org(funded).filter(type="invocation")
    assert not usage.exists()  # sent, not yet metered: the ledger write is off the caller's clock
    response.close()  # what the server does once the last byte is out
    assert usage.count() == 1 and str(usage.get().reference).endswith(answer["invocation"]["id"])
    assert Organization.objects.get(pk=funded.pk).credits == 999
    response.close()  # a second close() meters nothing more
    assert usage.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_low_balance_is_metered_before_the_answer(stub, app, org, api_key):
    # Below 100 invocations' worth, a caller cannot outrun its balance by calling faster than the
    # ledger writes: each answer is charged before it is sent, and says what was charged.
    Organization.objects.filter(pk=org.pk).update(credits=2)
    for expected in (1, 0):
        status, answer, response = _wsgi_invoke(app, api_key)
        assert status.startswith("200") and answer["invocation"]["credits"] == 1
        assert Organization.objects.get(pk=org.pk).credits == expected  # before close()
        response.close()
    status, answer, _ = _wsgi_invoke(app, api_key)
    assert status.startswith("402") and answer["code"] == "INSUFFICIENT_CREDITS"
    assert len(stub.calls) == 2


@pytest.mark.django_db(transaction=True)
def test_a_remembered_api_key_sees_a_spent_balance(stub, app, org, api_key):
    from billing.models import TransactionType
    from billing.services import credits_apply

    client = client_for(api_key=api_key.raw)
    assert client.post(_url(app), {"action": "x"}, format="json").status_code == 200  # remembered
    credits_apply(organization=org, amount=-99, type=TransactionType.ADJUSTMENT, description="x")
    assert Organization.objects.get(pk=org.pk).credits == 0
    response = client.post(_url(app), {"action": "x"}, format="json")
    assert response.status_code == 402 and response.json()["available"] == 0
    assert len(stub.calls) == 1


@pytest.mark.django_db(transaction=True)
def test_a_failed_meter_is_retried_by_the_worker(
    stub, app, funded, api_key, pixell_logs, monkeypatch
):
    from runtime import services

    real_charge = services._charge
    attempts = []

    answered_at = []

    def flaky_charge(**fields):
        attempts.append(fields["invocation_id"])
        if len(attempts) == 1:
            answered_at.append(fields["occurred_at"])
            raise DatabaseError("database gone")
        return real_charge(**fields)

    monkeypatch.setattr(services, "_charge", flaky_charge)
    status, answer, response = _wsgi_invoke(app, api_key, request_id="req-retried")
    response.close()  # the first charge fails; the retry task (eager here) charges it
    assert status.startswith("200") and answer["invocation"]["status"] == "success"
    invocation_id = answer["invocation"]["id"]
    assert attempts == [invocation_id, invocation_id]
    [record] = [r for r in pixell_logs.records if r.name == "runtime.services"]
    assert record.levelname == "WARNING" and "database gone" in pixell_logs.text
    assert invocation_id in record.getMessage() and str(funded.pk) in record.getMessage()
    assert record.request_id == "req-retried"  # the answer's request, though sent already
    event = UsageEvent.objects.for_org(funded).get(type="invocation")
    assert event.reference == f"invocation:{invocation_id}"
    assert event.occurred_at == answered_at[0]  # the answer's time, through the task's arguments
    assert Organization.objects.get(pk=funded.pk).credits == 999


@pytest.mark.django_db(transaction=True)
def test_a_retry_for_a_deleted_payer_gives_up_at_once(stub, app, funded, pixell_logs):
    from runtime import tasks

    fields = {
        "invocation_id": "5c1c3c1e-0000-4000-8000-000000000001",
        "agent_app_id": str(app.pk),
        "payer_id": "5c1c3c1e-0000-4000-8000-000000000002",  # no such organization
        "credits": 1,
        "occurred_at": "2026-12-05T08:00:00+00:00",
    }
    result = tasks.invocation_meter_retry_task.apply(kwargs=fields, throw=True)
    assert result.successful() and result.state != "RETRY"  # not transient: no retry
    assert "invocation could not be metered" in pixell_logs.text
    assert not UsageEvent.objects.for_org(funded).filter(type="invocation").exists()


@pytest.mark.django_db(transaction=True)
def test_work_after_the_response_never_breaks_it(pixell_logs):
    from pixell.api.responses import ResponseThen

    def broken():
        raise RuntimeError("boom")

    response = ResponseThen({"ok": True}, then=broken, label="the thing to redo")
    response.close()
    [record] = [r for r in pixell_logs.records if r.name == "pixell.api.responses"]
    assert record.levelname == "ERROR" and "the thing to redo" in record.getMessage()
