import threading

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from agentapps.models import AgentApp
from billing.models import CreditTransaction
from organizations.models import Organization
from usage.models import UsageDaily, UsageEvent

SECRET = "runtime-secret-0123456789abcdef"


@pytest.fixture(autouse=True)
def _runtime_secret(settings):
    settings.PIXELL_RUNTIME_SECRET = SECRET


@pytest.fixture
def app(org):
    return AgentApp.all_orgs.create(organization=org, name="Support Bot")


@pytest.fixture
def runtime():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {SECRET}")
    return client


def _report(app, **overrides):
    body = {
        "id": "inv-1",
        "agent_app_id": str(app.pk),
        "count": 3,
        "credits": 10,
        "timestamp": "2026-03-04T05:06:07Z",
    }
    body.update(overrides)
    return body


def _balance(org) -> int:
    return Organization.objects.get(pk=org.pk).credits


def test_report_charges_usage_and_records_an_invocation(runtime, org, app):
    response = runtime.post("/api/runtime/invocations", _report(app), format="json")
    assert response.status_code == 200
    assert response.json() == {
        "id": "inv-1",
        "agent_app_id": str(app.pk),
        "count": 3,
        "credits": 10,
        "balance_after": 90,
        "timestamp": "2026-03-04T05:06:07Z",
    }
    row = CreditTransaction.objects.for_org(org).get(type="usage")
    assert (row.amount, row.description, row.reference) == (
        -10,
        "Agent invocation",
        "invocation:inv-1",
    )
    event = UsageEvent.objects.for_org(org).get(type="invocation")
    assert (event.value, event.credits, event.agent_app_id, event.occurred_at.isoformat()) == (
        3,
        10,
        app.pk,
        "2026-03-04T05:06:07+00:00",
    )
    assert event.description == "Agent 'Support Bot' invoked 3 times"
    rollup = UsageDaily.objects.for_org(org).get(type="invocation")
    assert (str(rollup.day), rollup.events, rollup.value, rollup.credits) == (
        "2026-03-04",
        1,
        3,
        10,
    )


def test_repeated_report_returns_the_first_answer_and_charges_once(runtime, org, app):
    first = runtime.post("/api/runtime/invocations", _report(app), format="json").json()
    again = runtime.post(
        "/api/runtime/invocations", _report(app, credits=50, count=9), format="json"
    )
    assert again.status_code == 200 and again.json() == first
    assert _balance(org) == 90
    assert UsageEvent.objects.for_org(org).filter(type="invocation").count() == 1
    assert UsageDaily.objects.for_org(org).get(type="invocation").value == 3


def test_free_invocations_are_recorded_without_a_ledger_row(runtime, org, app):
    body = runtime.post(
        "/api/runtime/invocations", _report(app, credits=0, count=1), format="json"
    ).json()
    assert body["balance_after"] == 100 and body["credits"] == 0
    assert not CreditTransaction.objects.for_org(org).filter(type="usage").exists()
    assert (
        runtime.post(
            "/api/runtime/invocations", _report(app, credits=0, count=1), format="json"
        ).json()
        == body
    )
    assert (
        UsageEvent.objects.for_org(org).get(type="invocation").description
        == "Agent 'Support Bot' invoked"
    )


def test_report_beyond_the_balance_is_402_and_records_nothing(runtime, org, app):
    response = runtime.post("/api/runtime/invocations", _report(app, credits=101), format="json")
    assert response.status_code == 402
    body = response.json()
    assert (
        body["code"] == "INSUFFICIENT_CREDITS"
        and body["required"] == 101
        and body["available"] == 100
    )
    assert _balance(org) == 100
    assert not UsageEvent.objects.for_org(org).exists()


@pytest.mark.parametrize("app_id", ["00000000-0000-0000-0000-000000000000", "not-a-uuid"])
def test_unknown_app_is_404(runtime, org, app_id):
    response = runtime.post(
        "/api/runtime/invocations",
        {**_report(AgentApp(pk=None)), "agent_app_id": app_id},
        format="json",
    )
    assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"


def test_app_of_any_organization_is_charged_to_its_own(runtime, org, other_org):
    theirs = AgentApp.all_orgs.create(organization=other_org, name="Their Bot")
    assert (
        runtime.post("/api/runtime/invocations", _report(theirs), format="json").status_code == 200
    )
    assert (_balance(org), _balance(other_org)) == (100, 90)


@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong-secret", f"Basic {SECRET}", f"Bearer {SECRET}x", "Bearer "],
)
def test_wrong_or_missing_secret_is_401(org, app, header):
    client = APIClient()
    if header is not None:
        client.credentials(HTTP_AUTHORIZATION=header)
    response = client.post("/api/runtime/invocations", _report(app), format="json")
    assert response.status_code == 401 and response.json()["code"] == "AUTHENTICATION_FAILED"
    assert _balance(org) == 100


def test_unset_secret_refuses_everyone(runtime, org, app, settings):
    settings.PIXELL_RUNTIME_SECRET = None
    assert runtime.post("/api/runtime/invocations", _report(app), format="json").status_code == 401
    empty = APIClient()
    empty.credentials(HTTP_AUTHORIZATION="Bearer ")
    assert empty.post("/api/runtime/invocations", _report(app), format="json").status_code == 401


def test_user_credentials_are_not_the_runtime(owner_client, api_key_client, app):
    for client in (owner_client, api_key_client):
        assert (
            client.post("/api/runtime/invocations", _report(app), format="json").status_code == 401
        )


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"count": 0}, "count"),
        ({"count": "3"}, "count"),
        ({"credits": -1}, "credits"),
        ({"credits": 1.5}, "credits"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"id": 7}, "id"),
        ({"id": ""}, "id"),
    ],
)
def test_invalid_reports_are_400_naming_the_field(runtime, org, app, overrides, field):
    response = runtime.post("/api/runtime/invocations", _report(app, **overrides), format="json")
    assert response.status_code == 400 and field in response.json()["details"]
    assert _balance(org) == 100


def test_runtime_route_has_its_own_limit_not_the_anonymous_one(runtime, org, app, settings):
    settings.PIXELL_RATE_LIMIT_ANONYMOUS = "1/h"
    settings.PIXELL_RATE_LIMIT_RUNTIME = "100/m"
    for i in range(3):
        response = runtime.post(
            "/api/runtime/invocations", _report(app, id=f"inv-{i}", credits=1), format="json"
        )
        assert response.status_code == 200
        assert response["X-RateLimit-Limit"] == "100"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_repeats_of_one_report_charge_once(org):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serializes every writer")
    app = AgentApp.all_orgs.create(organization=org, name="Bot")
    barrier = threading.Barrier(8)
    answers = []

    def report():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {SECRET}")
        try:
            barrier.wait()
            response = client.post("/api/runtime/invocations", _report(app), format="json")
            answers.append((response.status_code, response.json()["balance_after"]))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=report) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [(200, 90)] * 8
    assert _balance(org) == 90
    assert UsageEvent.objects.for_org(org).count() == 1


def test_an_absurdly_large_count_is_a_validation_error_not_a_500(runtime, org, app):
    # 10**19 does not fit the BIGINT columns (and a sum of two large ones would overflow the rollup).
    response = runtime.post(
        "/api/runtime/invocations", _report(app, count=10**19, credits=0), format="json"
    )
    assert response.status_code == 400 and "count" in response.json()["details"]
    assert not UsageEvent.objects.for_org(org).exists()
    assert _balance(org) == 100
