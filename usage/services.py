"""Usage writes. Every domain records what happened through ``usage_event_record``."""

from django.utils import timezone

from usage.models import UsageEvent


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
) -> UsageEvent:
    return UsageEvent.objects.for_org(organization).create(
        organization=organization,
        type=type,
        description=description[:255],
        value=value,
        credits=credits,
        agent_app_id=agent_app_id,
        metadata=metadata or {},
        occurred_at=occurred_at or timezone.now(),
    )
