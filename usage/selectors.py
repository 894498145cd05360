"""Usage reads: metrics, chart, activity, export links. Aggregates are SQL sums over the daily
rollups (one row per organization, UTC day and event type), never loops over events."""

from datetime import date, timedelta

from django.conf import settings
from django.core import signing
from django.core.files.storage import default_storage
from django.db.models import Q, Sum
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from pixell.storage import storage_is_s3
from usage.models import ApiCallDaily, UsageDaily, UsageEvent, UsageEventType, UsageExport
from usage.services import API_CALL_COUNTER_DAYS, api_calls_unflushed, utc_day

_EXPORT_SALT = "pixell.usage-export"


def percent_change(current: int, previous: int) -> float:
    """docs/CONTRACT.md §8: rounded to one decimal; 0.0 when both are 0, 100.0 when only the earlier is 0."""
    if previous == 0:
        return 0.0 if current == 0 else 100.0
    return round((current - previous) * 100.0 / previous, 1)


def day_window(*, days: int, today: date | None = None) -> tuple[date, date]:
    """The last ``days`` UTC days, today included: (first day, last day)."""
    today = today or utc_day(timezone.now())
    return today - timedelta(days=days - 1), today


def usage_metrics(*, organization, days: int = 30, today: date | None = None) -> dict:
    """The last ``days`` UTC days (today included) against the ``days`` before them."""
    first, last = day_window(days=days, today=today)
    prev_first = first - timedelta(days=days)
    current, previous = Q(day__gte=first), Q(day__lt=first)
    invocations = Q(type=UsageEventType.INVOCATION)
    uploads = Q(type=UsageEventType.PACKAGE_UPLOAD)
    sums = (
        UsageDaily.objects.for_org(organization)
        .filter(day__gte=prev_first, day__lte=last)
        .aggregate(
            # Aliases must not shadow the summed columns' names.
            n_invocations=Coalesce(Sum("value", filter=invocations & current), 0),
            n_invocations_prev=Coalesce(Sum("value", filter=invocations & previous), 0),
            n_packages=Coalesce(Sum("events", filter=uploads & current), 0),
            n_packages_prev=Coalesce(Sum("events", filter=uploads & previous), 0),
            n_credits=Coalesce(Sum("credits", filter=current), 0),
            n_credits_prev=Coalesce(Sum("credits", filter=previous), 0),
        )
    )
    calls = (
        ApiCallDaily.objects.for_org(organization)
        .filter(day__gte=prev_first, day__lte=last)
        .aggregate(
            current=Coalesce(Sum("count", filter=current), 0),
            previous=Coalesce(Sum("count", filter=previous), 0),
        )
    )
    # Requests counted since the last flush are still in the cache (counters live a few days).
    recent = [last - timedelta(days=i) for i in range(min(2 * days, API_CALL_COUNTER_DAYS + 1))]
    for day, count in api_calls_unflushed(organization_id=organization.pk, days=recent).items():
        calls["current" if day >= first else "previous"] += count
    return {
        "invocations": sums["n_invocations"],
        "invocationsChange": percent_change(sums["n_invocations"], sums["n_invocations_prev"]),
        "packagesUploaded": sums["n_packages"],
        "packagesChange": percent_change(sums["n_packages"], sums["n_packages_prev"]),
        "apiCalls": calls["current"],
        "apiCallsChange": percent_change(calls["current"], calls["previous"]),
        "creditsUsed": sums["n_credits"],
        "creditsChange": percent_change(sums["n_credits"], sums["n_credits_prev"]),
    }


def usage_chart(*, organization, days: int = 30, today: date | None = None) -> list[dict]:
    """One entry per UTC day, oldest first, days without events included as zeros."""
    first, last = day_window(days=days, today=today)
    per_day = {
        row["day"]: row
        for row in UsageDaily.objects.for_org(organization)
        .filter(day__gte=first, day__lte=last)
        .values("day")
        .annotate(
            n_invocations=Coalesce(Sum("value", filter=Q(type=UsageEventType.INVOCATION)), 0),
            n_credits=Coalesce(Sum("credits"), 0),
        )
        .order_by()
    }
    data = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        row = per_day.get(day)
        data.append(
            {
                "date": day.strftime("%b %d"),
                "iso_date": day.isoformat(),
                "invocations": row["n_invocations"] if row else 0,
                "credits": row["n_credits"] if row else 0,
            }
        )
    return data


def usage_activity_queryset(*, organization):
    return UsageEvent.objects.for_org(organization).only(
        "id", "type", "description", "value", "occurred_at"
    )


def usage_export_download_url(*, export: UsageExport) -> str:
    """A link that works without other credentials until the export expires: a presigned S3 URL,
    or a signed link to our own download view for local storage."""
    remaining = int((export.expires_at - timezone.now()).total_seconds())
    if storage_is_s3():
        return default_storage.url(export.storage_key, expire=max(remaining, 1))
    token = signing.dumps(str(export.pk), salt=_EXPORT_SALT)
    return settings.PIXELL_PUBLIC_URL + reverse("usage:export-download", kwargs={"token": token})


def usage_export_for_token(*, token: str) -> UsageExport | None:
    """The export a download link names, if the link is genuine and not expired; else None."""
    try:
        export_id = signing.loads(token, salt=_EXPORT_SALT)
    except signing.BadSignature:
        return None
    return UsageExport.all_orgs.filter(
        pk=export_id, expires_at__gt=timezone.now(), deleted_at__isnull=True
    ).first()
