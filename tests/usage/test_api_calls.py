import dataclasses
from datetime import UTC, date, datetime

from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from freezegun import freeze_time

from tests.conftest import client_for
from usage.models import ApiCallDaily
from usage.selectors import usage_metrics
from usage.services import api_call_count, api_call_counter_key, usage_rollup_flush
from usage.tasks import usage_rollup_flush_task


def _calls(org) -> int:
    return usage_metrics(organization=org, days=30)["apiCalls"]


def test_organization_requests_are_counted_without_a_write_per_request(owner_client, org):
    owner_client.get("/api/credits/balance")  # first of the day: registers the counter
    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            owner_client.get("/api/credits/balance")
    writes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].split()[0].upper() in ("INSERT", "UPDATE", "DELETE")
    ]
    assert not [w for w in writes if "usage_" in w]
    assert _calls(org) == 6


def test_only_organization_routes_count(owner_client, anon_client, api_key_client, org):
    anon_client.get("/api/usage/metrics")  # 401: no organization resolved
    anon_client.get("/api/health")
    owner_client.get("/api/no-such-route")
    api_key_client.get("/api/usage/metrics")  # API keys are the organization's callers too
    owner_client.post(
        "/api/credits/topup", {}, format="json"
    )  # refused input still reached the org
    assert _calls(org) == 2


def test_calls_are_counted_per_organization(owner_client, other_client, org, other_org):
    owner_client.get("/api/usage/metrics")
    other_client.get("/api/usage/metrics")
    other_client.get("/api/usage/metrics")
    assert (_calls(org), _calls(other_org)) == (1, 2)


def test_flush_moves_counters_into_the_daily_rollup(owner_client, org):
    for _ in range(3):
        owner_client.get("/api/credits/balance")
    assert usage_rollup_flush_task() == 3
    today = datetime.now(UTC).date()
    assert ApiCallDaily.objects.for_org(org).get(day=today).count == 3
    assert cache.get(api_call_counter_key(org.pk, today)) == 0
    owner_client.get("/api/credits/balance")
    assert _calls(org) == 4  # 3 flushed + 1 still in the cache
    assert usage_rollup_flush() == 1
    assert usage_rollup_flush() == 0  # safe to run twice
    assert _calls(org) == 4


def test_interleaved_flushes_never_lose_or_double_count(org):
    """Two flushers that both read the same counter before either subtracts (a race) still keep
    row + counter equal to the calls counted."""
    day = date(2026, 5, 1)
    key = api_call_counter_key(org.pk, day)
    with freeze_time("2026-05-01T10:00:00Z"):
        for _ in range(5):
            api_call_count(organization_id=org.pk)
        seen = cache.get(key)
        api_call_count(organization_id=org.pk)  # arrives between a read and its subtraction
        usage_rollup_flush()  # the other flusher: moves 6
        # the first flusher resumes with what it read
        ApiCallDaily.objects.for_org(org).filter(day=day).update(
            count=ApiCallDaily.objects.for_org(org).get(day=day).count + seen
        )
        cache.decr(key, seen)
        assert _calls(org) == 6
        api_call_count(organization_id=org.pk)
        usage_rollup_flush()
        assert _calls(org) == 7


def test_yesterdays_counters_count_in_the_window(org):
    with freeze_time("2026-05-01T23:59:00Z"):
        api_call_count(organization_id=org.pk)
    with freeze_time("2026-05-02T00:01:00Z"):
        api_call_count(organization_id=org.pk)
        assert usage_metrics(organization=org, days=1)["apiCalls"] == 1
        assert usage_metrics(organization=org, days=2)["apiCalls"] == 2
        usage_rollup_flush()
        assert sorted(ApiCallDaily.objects.for_org(org).values_list("day", "count")) == [
            (date(2026, 5, 1), 1),
            (date(2026, 5, 2), 1),
        ]


def test_counting_failure_never_breaks_the_response(owner_client, org, monkeypatch):
    def broken(**kwargs):
        raise ConnectionError("cache down")

    from pixell.api import middleware

    # The counting usage registered with the middleware (UsageConfig.ready()), made to fail.
    monkeypatch.setattr(
        middleware, "_counting", dataclasses.replace(middleware._counting, count=broken)
    )
    assert owner_client.get("/api/credits/balance").status_code == 200


def test_metrics_api_reports_counted_calls_and_change(owner, org):
    with freeze_time("2026-05-01T10:00:00Z"):
        for _ in range(4):
            api_call_count(organization_id=org.pk)
        usage_rollup_flush()  # beat flushes every minute; unflushed counters expire after days
    with freeze_time("2026-05-09T10:00:00Z"):
        client = client_for(owner)
        client.get("/api/credits/balance")
        body = client.get("/api/usage/metrics?days=7").json()
    assert (body["apiCalls"], body["apiCallsChange"]) == (1, -75.0)
