"""Abstract bases every model builds on: UUID public ids and timestamps (docs/ARCHITECTURE.md, habit 7)."""

import uuid

from django.db import models


class TimeStampedModel(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


def delete_in_batches(queryset, *, batch_size: int, max_batches: int) -> int:
    """Deletes the rows of ``queryset`` a bounded batch at a time and returns how many it removed.

    Retention jobs use it so that no run holds long locks or a huge transaction, and a backlog
    (first run on an old install) is worked off over several runs instead of one giant delete.
    Counts rows of ``queryset``'s own model, not the cascaded ones.
    """
    removed = 0
    for _ in range(max_batches):
        pks = list(queryset.order_by().values_list("pk", flat=True)[:batch_size])
        if not pks:
            break
        queryset.filter(pk__in=pks).delete()
        removed += len(pks)
        if len(pks) < batch_size:
            break
    return removed
