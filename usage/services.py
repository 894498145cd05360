"""Usage writes. Every domain records what happened through ``usage_event_record``."""

import csv
import io
import json
import logging
import tempfile
import uuid
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from pixell.cache import counters_hit
from pixell.db import delete_in_batches
from usage.models import ApiCallDaily, UsageDaily, UsageEvent, UsageExport

logger = logging.getLogger(__name__)

# Counters of API calls live this long in the cache; the flush task moves them every minute, so
# only an outage of the worker longer than this loses counts.
API_CALL_COUNTER_DAYS = 3
API_CALL_COUNTER_TTL = API_CALL_COUNTER_DAYS * 24 * 3600
EXPORT_LINK_SECONDS = 24 * 3600
EXPORT_CHUNK_ROWS = 2000


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def utc_midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC)


def usage_event_record(
    *,
    organization,
    type: str,
    description: str,
    value: int | None = None,
    credits: int = 0,
    agent_app_id=None,
    metadata: dict | None = None,
    occurred_at=None,
    reference: str | None = None,
) -> UsageEvent:
    """Append an event and add it to its day's rollup, in one transaction.

    With a ``reference`` the event is recorded at most once; a repeat returns the first one.
    """
    occurred_at = occurred_at or timezone.now()
    with transaction.atomic():
        try:
            # The savepoint keeps a caller's transaction usable when a concurrent writer of the
            # same reference wins the unique constraint.
            with transaction.atomic():
                event = UsageEvent.objects.for_org(organization).create(
                    organization=organization,
                    type=type,
                    description=description[:255],
                    value=value,
                    credits=credits,
                    agent_app_id=agent_app_id,
                    metadata=metadata or {},
                    occurred_at=occurred_at,
                    reference=reference,
                )
        except IntegrityError:
            if reference is None:
                raise
            return UsageEvent.all_orgs.get(reference=reference)
        _rollup_add(
            organization_id=organization.pk,
            day=utc_day(occurred_at),
            type=type,
            value=value or 0,
            credits=credits,
        )
    return event


def _rollup_add(*, organization_id, day: date, type: str, value: int, credits: int) -> None:
    # F() increments: concurrent events of the same day add up instead of overwriting each other.
    increments = {
        "events": F("events") + 1,
        "value": F("value") + value,
        "credits": F("credits") + credits,
    }
    row = UsageDaily.all_orgs.filter(organization_id=organization_id, day=day, type=type)
    if row.update(**increments):
        return
    try:
        with transaction.atomic():
            UsageDaily.all_orgs.create(
                organization_id=organization_id,
                day=day,
                type=type,
                events=1,
                value=value,
                credits=credits,
            )
    except IntegrityError:
        # A concurrent first event of the day created the row between our update and insert.
        row.update(**increments)


def usage_rollup_rebuild(
    *, organization, start: date | None = None, end: date | None = None
) -> int:
    """Recompute the daily rollups of ``organization`` from its events (inclusive UTC days).

    For events written in bulk without ``usage_event_record`` (seed_usage) and for repair.
    Returns the number of rollup rows written.
    """
    events = UsageEvent.objects.for_org(organization)
    rollups = UsageDaily.objects.for_org(organization)
    if start is not None:
        events = events.filter(occurred_at__gte=utc_midnight(start))
        rollups = rollups.filter(day__gte=start)
    if end is not None:
        events = events.filter(occurred_at__lt=utc_midnight(end + timedelta(days=1)))
        rollups = rollups.filter(day__lte=end)
    grouped = (
        events.annotate(day=TruncDate("occurred_at", tzinfo=UTC))
        .values("day", "type")
        .annotate(n=Count("id"), v=Coalesce(Sum("value"), 0), c=Coalesce(Sum("credits"), 0))
        .order_by()
    )
    with transaction.atomic():
        rollups.delete()
        rows = [
            UsageDaily(
                organization=organization,
                day=g["day"],
                type=g["type"],
                events=g["n"],
                value=g["v"],
                credits=g["c"],
            )
            for g in grouped
        ]
        UsageDaily.all_orgs.bulk_create(rows, batch_size=1000)
    return len(rows)


# --- API calls --------------------------------------------------------------------------------


def api_call_counter_key(organization_id, day: date) -> str:
    return f"apicalls:{organization_id}:{day.isoformat()}"


def api_call_counter(*, organization_id) -> tuple[tuple[str, int], date]:
    """The cache increment that counts one API call of an organization today: ((key, ttl), day).

    The API middleware sends it in the same round trip as the rate limit, then reports the new
    count to ``api_call_counted``."""
    day = utc_day(timezone.now())
    return (api_call_counter_key(organization_id, day), API_CALL_COUNTER_TTL), day


def api_call_counted(*, organization_id, day: date, count: int) -> None:
    if count == 1:
        # First count of the day: make sure the flush task knows this counter exists (the only
        # database write, once per organization and day).
        ApiCallDaily.all_orgs.get_or_create(organization_id=organization_id, day=day)


def api_call_count(*, organization_id) -> None:
    """Count one authenticated /api request of an organization: a cache increment, no database write
    (except one registration row per organization and day)."""
    increment, day = api_call_counter(organization_id=organization_id)
    (count,), _ = counters_hit([increment])
    api_call_counted(organization_id=organization_id, day=day, count=count)


def usage_rollup_flush(*, days_back: int = API_CALL_COUNTER_DAYS) -> int:
    """Move API-call counters from the cache into ApiCallDaily. Returns the number of calls moved.

    Safe to run concurrently with requests and with itself: each flush subtracts from the counter
    exactly what it adds to the row, so row + counter always equals every request counted, however
    flushes and increments interleave (a counter may briefly go negative; readers add it as is).
    """
    since = utc_day(timezone.now()) - timedelta(days=days_back)
    moved = 0
    pending = list(
        ApiCallDaily.all_orgs.filter(day__gte=since).values_list("pk", "organization_id", "day")
    )
    keys = {api_call_counter_key(org_id, day): pk for pk, org_id, day in pending}
    for key, value in cache.get_many(list(keys)).items():
        if not value:
            continue
        with transaction.atomic():
            ApiCallDaily.all_orgs.filter(pk=keys[key]).update(count=F("count") + value)
            # Inside the transaction: if the cache refuses the decrement, the row update rolls back.
            cache.decr(key, value)
        moved += value
    return moved


def api_calls_unflushed(*, organization_id, days: list[date]) -> dict[date, int]:
    """Counts still in the cache for these days (added to the rollup rows by readers)."""
    keys = {api_call_counter_key(organization_id, day): day for day in days}
    return {keys[key]: int(value) for key, value in cache.get_many(list(keys)).items() if value}


# --- Export -----------------------------------------------------------------------------------

EXPORT_COLUMNS = [
    "id",
    "occurred_at",
    "type",
    "description",
    "value",
    "credits",
    "agent_app_id",
    "metadata",
]
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _csv_text(value: str) -> str:
    # Spreadsheet formula injection: a description such as "=HYPERLINK(...)" comes from user
    # input (app names); a leading quote makes spreadsheets show it as text.
    return "'" + value if value.startswith(_FORMULA_PREFIXES) else value


def usage_export_create(
    *, organization, actor, format: str, start_date: date, end_date: date
) -> UsageExport:
    """Write every usage event of the inclusive UTC date range to a file in storage.

    Streams: rows come from a database cursor in chunks into a temporary file, which storage then
    copies (multipart on S3), so memory stays flat however many events there are.
    """
    rows = _export_rows(organization=organization, start_date=start_date, end_date=end_date)
    export_id = uuid.uuid4()
    key = f"exports/{organization.pk}/{export_id}.{format}"
    write = _export_write_csv if format == "csv" else _export_write_json
    stored_key, size, count = _export_store(key=key, rows=rows, write=write)
    return UsageExport.objects.for_org(organization).create(
        id=export_id,
        organization=organization,
        requested_by=actor,
        format=format,
        start_date=start_date,
        end_date=end_date,
        storage_key=stored_key,
        rows=count,
        size=size,
        expires_at=timezone.now() + timedelta(seconds=EXPORT_LINK_SECONDS),
    )


def _export_rows(*, organization, start_date: date, end_date: date):
    """The range's events as value tuples in EXPORT_COLUMNS order, oldest first."""
    rows = UsageEvent.objects.for_org(organization).filter(
        occurred_at__gte=utc_midnight(start_date)
    )
    if end_date < date.max:  # the day after date.max does not exist: no upper bound then
        rows = rows.filter(occurred_at__lt=utc_midnight(end_date + timedelta(days=1)))
    # The export's columns are UsageEvent's field names.
    return rows.order_by("occurred_at", "id").values_list(*EXPORT_COLUMNS)


def _export_store(*, key: str, rows, write) -> tuple[str, int, int]:
    """Write the rows to a temporary file with ``write`` and save it to storage at ``key``.

    Returns (the stored key, the file's size, the number of rows).
    """
    with tempfile.TemporaryFile(mode="w+b") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        count = write(text, rows.iterator(chunk_size=EXPORT_CHUNK_ROWS))
        text.flush()
        size = raw.tell()
        raw.seek(0)
        text.detach()
        # Storage I/O outside any transaction (it may be a slow S3 upload).
        stored_key = default_storage.save(key, File(raw, name=key))
    return stored_key, size, count


def _export_timestamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _export_write_csv(text, rows) -> int:
    writer = csv.writer(text)
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    for id_, at, type_, description, value, credits, app_id, metadata in rows:
        writer.writerow(
            [
                id_,
                _export_timestamp(at),
                type_,
                _csv_text(description),
                "" if value is None else value,
                credits,
                app_id or "",
                _csv_text(json.dumps(metadata, separators=(",", ":"))) if metadata else "",
            ]
        )
        count += 1
    return count


def _export_write_json(text, rows) -> int:
    text.write('{"events": [')
    count = 0
    for id_, at, type_, description, value, credits, app_id, metadata in rows:
        item = {
            "id": str(id_),
            "occurred_at": _export_timestamp(at),
            "type": type_,
            "description": description,
            "value": value,
            "credits": credits,
            "agent_app_id": str(app_id) if app_id else None,
            "metadata": metadata,
        }
        text.write(("\n" if count == 0 else ",\n") + json.dumps(item, separators=(",", ":")))
        count += 1
    text.write("\n]}\n")
    return count


def usage_exports_purge(*, now: datetime | None = None) -> int:
    """Delete the files of expired exports (their links no longer work). Safe to run twice."""
    now = now or timezone.now()
    purged = 0
    for export in UsageExport.all_orgs.filter(
        expires_at__lte=now, deleted_at__isnull=True
    ).iterator():
        default_storage.delete(export.storage_key)
        # Compare-and-set: a concurrent purge counts the file once.
        purged += UsageExport.all_orgs.filter(pk=export.pk, deleted_at__isnull=True).update(
            deleted_at=now
        )
    # The rows stay PIXELL_RETENTION_EXPORT_DAYS after expiry, so a late click on the link says
    # "expired" rather than "not found"; then they go too.
    rows = delete_in_batches(
        UsageExport.all_orgs.filter(
            deleted_at__isnull=False,
            expires_at__lt=now - timedelta(days=settings.PIXELL_RETENTION_EXPORT_DAYS),
        ),
        batch_size=settings.PIXELL_RETENTION_BATCH_SIZE,
        max_batches=settings.PIXELL_RETENTION_MAX_BATCHES,
    )
    logger.info(
        "retention: removed %d expired export files and %d export rows",
        purged,
        rows,
        extra={"removed": {"files": purged, "rows": rows}},
    )
    return purged


def usage_events_purge(*, now: datetime | None = None) -> int:
    """Raw usage events of UTC days older than PIXELL_RETENTION_USAGE_EVENTS_DAYS.

    Metrics and the chart read only the daily rollups (UsageDaily, ApiCallDaily), which every
    event was added to when it was recorded, and those stay: totals do not change. What goes is
    the per-event detail (activity list, exports) of those days. ``usage_rollup_rebuild`` must not
    be run over purged days (it would recount them from the events that are left).
    Filters on the indexed created_at (an event is never recorded before it occurred).
    """
    cutoff = utc_midnight(
        utc_day(now or timezone.now()) - timedelta(days=settings.PIXELL_RETENTION_USAGE_EVENTS_DAYS)
    )
    removed = delete_in_batches(
        UsageEvent.all_orgs.filter(created_at__lt=cutoff, occurred_at__lt=cutoff),
        batch_size=settings.PIXELL_RETENTION_BATCH_SIZE,
        max_batches=settings.PIXELL_RETENTION_MAX_BATCHES,
    )
    logger.info("retention: removed %d raw usage events", removed, extra={"removed": removed})
    return removed
