"""Retention beat tasks: rows on the old side of each cutoff go, rows on the new side stay, in
bounded batches; usage metrics and charts are unchanged by purging raw events."""

from datetime import date, timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.services import auth_tokens_purge
from deployments.models import (
    DeliveryStatus,
    IdempotencyRecord,
    WebhookDelivery,
    WebhookDeliveryAttempt,
)
from deployments.services import idempotency_records_purge, webhook_deliveries_purge
from pixell.celery import app as celery_app
from pixell.db import delete_in_batches
from tests.factories import AgentAppFactory, WebhookDeliveryFactory, WebhookFactory
from tests.s3 import local_storage  # noqa: F401 - fixture
from usage.models import UsageEvent, UsageEventType, UsageExport
from usage.selectors import usage_chart, usage_metrics
from usage.services import (
    usage_event_record,
    usage_events_purge,
    usage_export_create,
    usage_exports_purge,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _local_media(local_storage):
    """Export files go to a per-test MEDIA_ROOT, not the session's shared one."""
    return local_storage


def _age(model_qs, *, created_at):
    model_qs.update(created_at=created_at)


def test_beat_runs_every_retention_task():
    tasks = {entry["task"] for entry in celery_app.conf.beat_schedule.values()}
    assert {
        "accounts.tasks.auth_tokens_purge_task",
        "deployments.tasks.webhook_deliveries_purge_task",
        "deployments.tasks.deployments_housekeeping_task",
        "usage.tasks.usage_exports_purge_task",
        "usage.tasks.usage_events_purge_task",
    } <= tasks


def test_expired_tokens_and_their_blacklist_entries_go(owner):
    now = timezone.now()
    expired = OutstandingToken.objects.create(
        user=owner,
        jti="old",
        token="t1",
        created_at=now - timedelta(days=31),
        expires_at=now - timedelta(seconds=1),
    )
    BlacklistedToken.objects.create(token=expired)
    live = OutstandingToken.objects.create(
        user=owner, jti="new", token="t2", created_at=now, expires_at=now + timedelta(seconds=60)
    )
    BlacklistedToken.objects.create(token=live)
    assert auth_tokens_purge(now=now) == 1
    assert list(OutstandingToken.objects.values_list("jti", flat=True)) == ["new"]
    assert list(BlacklistedToken.objects.values_list("token__jti", flat=True)) == ["new"]


def test_idempotency_records_after_24_hours(org):
    now = timezone.now()
    for key, hours in (("old", 25), ("new", 23)):
        record = IdempotencyRecord.all_orgs.create(organization=org, key=key, request_hash="h")
        _age(
            IdempotencyRecord.all_orgs.filter(pk=record.pk), created_at=now - timedelta(hours=hours)
        )
    assert idempotency_records_purge(now=now) == 1
    assert list(IdempotencyRecord.all_orgs.values_list("key", flat=True)) == ["new"]


def test_webhook_history_after_30_days(org):
    now = timezone.now()
    webhook = WebhookFactory(organization=org, agent_app=AgentAppFactory(organization=org))

    def delivery(days, status):
        row = WebhookDeliveryFactory(organization=org, webhook=webhook)
        WebhookDelivery.all_orgs.filter(pk=row.pk).update(status=status)
        attempt = WebhookDeliveryAttempt.objects.create(
            delivery=row, number=1, requested_at=now, response_snippet="receiver said"
        )
        _age(WebhookDelivery.all_orgs.filter(pk=row.pk), created_at=now - timedelta(days=days))
        _age(
            WebhookDeliveryAttempt.objects.filter(pk=attempt.pk),
            created_at=now - timedelta(days=days),
        )
        return row

    old_done = delivery(31, DeliveryStatus.SUCCEEDED)
    old_failed = delivery(31, DeliveryStatus.FAILED)
    recent = delivery(29, DeliveryStatus.SUCCEEDED)
    old_pending = delivery(31, DeliveryStatus.PENDING)

    assert webhook_deliveries_purge(now=now) == {"deliveries": 2, "attempts": 1}
    remaining = set(WebhookDelivery.all_orgs.values_list("pk", flat=True))
    assert remaining == {recent.pk, old_pending.pk}
    assert old_done.pk not in remaining and old_failed.pk not in remaining
    # The pending delivery stays, its month-old attempt log does not.
    assert list(WebhookDeliveryAttempt.objects.values_list("delivery_id", flat=True)) == [recent.pk]


def test_expired_exports_lose_file_then_row(org, owner, settings):
    settings.PIXELL_RETENTION_EXPORT_DAYS = 7
    now = timezone.now()

    def export(expired_days_ago):
        row = usage_export_create(
            organization=org,
            actor=owner,
            format="csv",
            start_date=date(2026, 1, 1),
            end_date=date(2026, 1, 2),
        )
        UsageExport.all_orgs.filter(pk=row.pk).update(
            expires_at=now - timedelta(days=expired_days_ago)
        )
        return UsageExport.all_orgs.get(pk=row.pk)

    long_expired, just_expired = export(8), export(6)
    live = usage_export_create(
        organization=org,
        actor=owner,
        format="csv",
        start_date=date(2026, 1, 1),
        end_date=date(2026, 1, 2),
    )
    assert usage_exports_purge(now=now) == 2  # both expired files
    assert not default_storage.exists(just_expired.storage_key)
    assert default_storage.exists(live.storage_key)
    # The row expired more than 7 days ago goes too; the other stays (a late click on its link
    # says "expired"), and a second run changes nothing.
    assert usage_exports_purge(now=now) == 0
    assert set(UsageExport.all_orgs.values_list("pk", flat=True)) == {just_expired.pk, live.pk}
    assert long_expired.pk not in set(UsageExport.all_orgs.values_list("pk", flat=True))


def test_raw_usage_events_go_rollups_stay(org, settings):
    settings.PIXELL_RETENTION_USAGE_EVENTS_DAYS = 3
    now = timezone.now()
    for days_ago in (10, 5, 4, 2, 0):
        event = usage_event_record(
            organization=org,
            type=UsageEventType.INVOCATION,
            description=f"{days_ago} days ago",
            value=days_ago + 1,
            credits=1,
            occurred_at=now - timedelta(days=days_ago),
        )
        _age(UsageEvent.all_orgs.filter(pk=event.pk), created_at=now - timedelta(days=days_ago))
    metrics_before = usage_metrics(organization=org, days=30)
    chart_before = usage_chart(organization=org, days=30)

    assert usage_events_purge(now=now) == 3  # 10, 5 and 4 days ago: before the cutoff day
    descriptions = set(
        UsageEvent.all_orgs.filter(type=UsageEventType.INVOCATION).values_list(
            "description", flat=True
        )
    )
    assert descriptions == {"2 days ago", "0 days ago"}
    assert usage_metrics(organization=org, days=30) == metrics_before
    assert usage_chart(organization=org, days=30) == chart_before
    assert metrics_before["invocations"] == 11 + 6 + 5 + 3 + 1


def test_batches_are_bounded(org):
    for i in range(5):
        IdempotencyRecord.all_orgs.create(organization=org, key=f"k{i}", request_hash="h")
    removed = delete_in_batches(IdempotencyRecord.all_orgs.all(), batch_size=2, max_batches=2)
    assert removed == 4
    assert IdempotencyRecord.all_orgs.count() == 1
