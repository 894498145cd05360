"""Cursor pagination for long lists (docs/CONTRACT.md §9): ``?limit`` and ``?cursor``, plus ``next_cursor``.

The cursor is an opaque, signed token holding the (created_at, id) of the last row served, so
pages are stable while new rows arrive and a client cannot forge positions.
"""

from datetime import datetime

from django.core import signing
from django.db.models import Q

from pixell.errors import ValidationError

_SALT = "pixell.cursor"


def parse_limit(raw: str | None, *, default: int = 50, maximum: int = 100) -> int:
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValidationError(
            "limit must be an integer", details={"limit": ["A valid integer is required."]}
        ) from exc
    if not 1 <= value <= maximum:
        raise ValidationError(
            f"limit must be between 1 and {maximum}",
            details={"limit": [f"Must be between 1 and {maximum}."]},
        )
    return value


def paginate(queryset, *, cursor: str | None, limit: int, time_field: str = "created_at"):
    """Newest first. Returns (rows, next_cursor or None)."""
    qs = queryset.order_by(f"-{time_field}", "-id")
    if cursor:
        try:
            stamp, last_id = signing.loads(cursor, salt=_SALT)
            stamp = datetime.fromisoformat(stamp)
        except (signing.BadSignature, ValueError, TypeError) as exc:
            raise ValidationError(
                "Invalid cursor", details={"cursor": ["Invalid or expired cursor."]}
            ) from exc
        qs = qs.filter(
            Q(**{f"{time_field}__lt": stamp}) | Q(**{time_field: stamp, "id__lt": last_id})
        )
    rows = list(qs[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = signing.dumps(
            [getattr(last, time_field).isoformat(), str(last.pk)], salt=_SALT
        )
    return rows, next_cursor
