"""Usage's part in what lower apps announce (connected in UsageConfig.ready())."""

import logging

from django.core.files.storage import default_storage
from django.db import transaction

from usage.models import UsageEventType, UsageExport
from usage.services import usage_event_record

logger = logging.getLogger(__name__)


def record_organization_activity(
    sender, *, organization, kind: str, description: str, metadata: dict, **kwargs
) -> None:
    """Membership, invitation and API-key changes in the activity feed, in the same transaction."""
    usage_event_record(
        organization=organization,
        type=UsageEventType(kind),
        description=description,
        metadata=metadata,
    )


def delete_organization_exports(sender, *, organization, **kwargs) -> None:
    """The organization's export files go after commit: a rolled-back delete keeps them."""
    keys = list(
        UsageExport.all_orgs.filter(organization=organization).values_list("storage_key", flat=True)
    )
    transaction.on_commit(lambda: _delete_quietly(keys), robust=True)


def _delete_quietly(keys) -> None:
    for key in keys:
        if not key:
            continue
        try:
            default_storage.delete(key)
        except Exception:
            logger.exception("Could not delete stored export file %s", key)
