from datetime import UTC, date, datetime, timedelta

import pytest
from django.db.models import Sum
from freezegun import freeze_time

from tests.conftest import client_for
from usage.models import UsageDaily, UsageEvent, UsageEventType
from usage.selectors import percent_change
from usage.services import usage_event_record, usage_rollup_rebuild

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


def _record(org, type, at, value=None, credits=0, description="something"):
    return usage_event_record(
        organization=org,
        type=type,
        description=description,
        value=value,
        credits=credits,
        occurred_at=at,
    )


@pytest.fixture
def frozen(owner):
    with freeze_time(NOW):
        yield client_for(owner)


@pytest.mark.parametrize(
    "current, previous, expected",
    [
        (0, 0, 0.0),
        (5, 0, 100.0),
        (0, 5, -100.0),
        (15, 10, 50.0),
        (10, 15, -33.3),
        (1, 3, -66.7),
        (1125, 1000, 12.5),
    ],
)
def test_percent_change(current, previous, expected):
    assert percent_change(current, previous) == expected


# --- metrics ---------------------------------------------------------------------------------


def test_metrics_seed_shape_with_no_usage(owner_client, org):
    assert owner_client.get("/api/usage/metrics").json() == {
        "invocations": 0,
        "invocationsChange": 0.0,
        "packagesUploaded": 0,
        "packagesChange": 0.0,
        "apiCalls": 0,
        "apiCallsChange": 0.0,
        "creditsUsed": 0,
        "creditsChange": 0.0,
    }


def test_metrics_compare_the_last_days_with_the_days_before(frozen, org, other_org):
    today = NOW
    # Current 7-day window: Mar 9..Mar 15 (today included); previous: Mar 2..Mar 8.
    _record(org, UsageEventType.INVOCATION, today, value=30, credits=12)
    _record(
        org, UsageEventType.INVOCATION, datetime(2026, 3, 9, 0, 0, tzinfo=UTC), value=15, credits=3
    )
    _record(
        org,
        UsageEventType.INVOCATION,
        datetime(2026, 3, 8, 23, 59, tzinfo=UTC),
        value=30,
        credits=10,
    )
    _record(
        org,
        UsageEventType.INVOCATION,
        datetime(2026, 3, 1, 23, 59, tzinfo=UTC),
        value=999,
        credits=999,
    )  # outside both
    _record(org, UsageEventType.PACKAGE_UPLOAD, today)
    _record(org, UsageEventType.PACKAGE_UPLOAD, today)
    _record(org, UsageEventType.DEPLOYMENT, today, credits=5)
    _record(org, UsageEventType.MEMBER, today)
    _record(other_org, UsageEventType.INVOCATION, today, value=1000, credits=1000)  # another tenant
    body = frozen.get("/api/usage/metrics?days=7").json()
    assert body == {
        "invocations": 45,
        "invocationsChange": 50.0,
        "packagesUploaded": 2,
        "packagesChange": 100.0,
        "apiCalls": 0,  # this very request is counted after its response
        "apiCallsChange": 0.0,
        "creditsUsed": 20,
        "creditsChange": 100.0,
    }
    assert frozen.get("/api/usage/metrics?days=7").json()["apiCalls"] == 1


def test_metrics_default_window_is_30_days(frozen, org):
    _record(org, UsageEventType.INVOCATION, NOW - timedelta(days=29), value=1)
    _record(org, UsageEventType.INVOCATION, NOW - timedelta(days=30), value=4)
    body = frozen.get("/api/usage/metrics").json()
    assert (body["invocations"], body["invocationsChange"]) == (1, -75.0)


@pytest.mark.parametrize("days", ["0", "366", "x", "-1"])
def test_metrics_and_chart_reject_bad_days(owner_client, days):
    for path in ("/api/usage/metrics", "/api/usage/chart"):
        response = owner_client.get(f"{path}?days={days}")
        assert response.status_code == 400 and "days" in response.json()["details"]


def test_usage_reads_are_for_every_role(role_clients):
    for client in role_clients.values():
        for path in ("/api/usage/metrics", "/api/usage/chart", "/api/usage/activity"):
            assert client.get(path).status_code == 200


def test_usage_reads_need_authentication(anon_client):
    for path in ("/api/usage/metrics", "/api/usage/chart", "/api/usage/activity"):
        assert anon_client.get(path).status_code == 401


def test_foreign_organization_header_is_404(owner, other_org):
    client = client_for(owner, org=other_org)
    for path in ("/api/usage/metrics", "/api/usage/chart", "/api/usage/activity"):
        assert client.get(path).status_code == 404


def test_metrics_and_chart_read_rollups_in_constant_queries(
    frozen, org, django_assert_max_num_queries
):
    for i in range(50):
        _record(
            org,
            UsageEventType.INVOCATION,
            NOW - timedelta(days=i % 40, hours=i % 5),
            value=1,
            credits=1,
        )
    with django_assert_max_num_queries(8):
        frozen.get("/api/usage/metrics?days=30")
    with django_assert_max_num_queries(8):
        frozen.get("/api/usage/chart?days=365")


# --- chart -----------------------------------------------------------------------------------


def test_chart_one_entry_per_utc_day_oldest_first_zeros_included(frozen, org):
    _record(
        org,
        UsageEventType.INVOCATION,
        datetime(2026, 3, 13, 23, 59, 59, tzinfo=UTC),
        value=2,
        credits=4,
    )
    _record(
        org,
        UsageEventType.INVOCATION,
        datetime(2026, 3, 14, 0, 0, 0, tzinfo=UTC),
        value=3,
        credits=6,
    )
    _record(org, UsageEventType.DEPLOYMENT, datetime(2026, 3, 14, 8, 0, tzinfo=UTC), credits=1)
    _record(
        org, UsageEventType.INVOCATION, datetime(2026, 3, 15, 11, 0, tzinfo=UTC), value=1, credits=1
    )
    body = frozen.get("/api/usage/chart?days=4").json()
    assert body == {
        "data": [
            {"date": "Mar 12", "iso_date": "2026-03-12", "invocations": 0, "credits": 0},
            {"date": "Mar 13", "iso_date": "2026-03-13", "invocations": 2, "credits": 4},
            {"date": "Mar 14", "iso_date": "2026-03-14", "invocations": 3, "credits": 7},
            {"date": "Mar 15", "iso_date": "2026-03-15", "invocations": 1, "credits": 1},
        ]
    }


def test_chart_defaults_to_30_days_and_spans_a_year(frozen, org):
    data = frozen.get("/api/usage/chart").json()["data"]
    assert (
        len(data) == 30
        and data[-1]["iso_date"] == "2026-03-15"
        and data[0]["iso_date"] == "2026-02-14"
    )
    year = frozen.get("/api/usage/chart?days=365").json()["data"]
    assert len(year) == 365 and year[0]["date"] == "Mar 16"


def test_chart_is_per_organization(frozen, org, other_org):
    _record(other_org, UsageEventType.INVOCATION, NOW, value=9, credits=9)
    assert all(p["invocations"] == 0 for p in frozen.get("/api/usage/chart?days=3").json()["data"])


# --- rollups ---------------------------------------------------------------------------------


def test_rollups_equal_a_rebuild_from_events(org):
    moments = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=7 * i) for i in range(40)]
    types = [UsageEventType.INVOCATION, UsageEventType.DEPLOYMENT, UsageEventType.PACKAGE_UPLOAD]
    for i, at in enumerate(moments):
        _record(org, types[i % 3], at, value=i if i % 3 == 0 else None, credits=i % 4)
    incremental = sorted(
        UsageDaily.objects.for_org(org).values_list("day", "type", "events", "value", "credits")
    )
    assert usage_rollup_rebuild(organization=org) == len(incremental)
    assert (
        sorted(
            UsageDaily.objects.for_org(org).values_list("day", "type", "events", "value", "credits")
        )
        == incremental
    )
    totals = UsageEvent.objects.for_org(org).aggregate(c=Sum("credits"))
    assert UsageDaily.objects.for_org(org).aggregate(c=Sum("credits")) == totals


def test_rebuild_of_a_range_leaves_other_days(org):
    _record(org, UsageEventType.INVOCATION, datetime(2026, 1, 1, tzinfo=UTC), value=1)
    _record(org, UsageEventType.INVOCATION, datetime(2026, 1, 5, tzinfo=UTC), value=2)
    UsageDaily.objects.for_org(org).update(value=100)
    usage_rollup_rebuild(organization=org, start=date(2026, 1, 4), end=date(2026, 1, 6))
    assert dict(UsageDaily.objects.for_org(org).values_list("day", "value")) == {
        date(2026, 1, 1): 100,
        date(2026, 1, 5): 2,
    }


# --- activity --------------------------------------------------------------------------------


def test_activity_newest_first_in_seed_shape(owner_client, org):
    _record(
        org,
        UsageEventType.PACKAGE_UPLOAD,
        NOW - timedelta(minutes=30),
        description="Uploaded version 1.0.1 of 'Data Analyzer'",
    )
    _record(
        org,
        UsageEventType.INVOCATION,
        NOW,
        value=10,
        description="Agent 'Customer Support Bot' invoked",
    )
    body = owner_client.get("/api/usage/activity").json()
    assert set(body) == {"events", "next_cursor"} and body["next_cursor"] is None
    invocation, upload = body["events"]
    assert set(invocation) == {"id", "type", "description", "value", "timestamp"}
    assert (invocation["type"], invocation["value"], invocation["timestamp"]) == (
        "invocation",
        10,
        "2026-03-15T12:00:00Z",
    )
    assert set(upload) == {
        "id",
        "type",
        "description",
        "timestamp",
    }  # no value where none is meaningful


def test_activity_limit_and_cursor(owner_client, org):
    for i in range(25):
        _record(org, UsageEventType.MEMBER, NOW - timedelta(minutes=i), description=f"event {i}")
    first = owner_client.get("/api/usage/activity").json()
    assert len(first["events"]) == 20 and first["events"][0]["description"] == "event 0"
    rest = owner_client.get(f"/api/usage/activity?cursor={first['next_cursor']}").json()
    assert [e["description"] for e in rest["events"]] == [f"event {i}" for i in range(20, 25)]
    assert rest["next_cursor"] is None
    assert len(owner_client.get("/api/usage/activity?limit=3").json()["events"]) == 3
    for bad in ("0", "101", "x"):
        response = owner_client.get(f"/api/usage/activity?limit={bad}")
        assert response.status_code == 400 and "limit" in response.json()["details"]


def test_activity_is_per_organization(owner_client, other_org):
    _record(other_org, UsageEventType.MEMBER, NOW, description="theirs")
    assert owner_client.get("/api/usage/activity").json()["events"] == []


def test_activity_query_count_is_constant(owner_client, org, django_assert_max_num_queries):
    for i in range(40):
        _record(org, UsageEventType.MEMBER, NOW - timedelta(seconds=i))
    with django_assert_max_num_queries(8):
        owner_client.get("/api/usage/activity?limit=100")
