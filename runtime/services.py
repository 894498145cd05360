"""Invocations through the platform (docs/CONTRACT.md §11): check the balance, run, meter once."""

from __future__ import annotations

import json
import logging
import time
import uuid

from django.conf import settings
from django.utils import timezone

from billing.errors import InsufficientCredits
from billing.services import invocation_report_apply
from organizations.models import Organization
from runtime import client, errors

logger = logging.getLogger(__name__)


def invocation_run(*, organization, agent_app, action: str, data: dict) -> dict:
    """Invoke the app's running agent for ``organization`` (the payer) and meter it.

    402 before anything runs when the balance cannot cover PIXELL_INVOCATION_CREDITS; 409 when no
    version runs; 504 past PIXELL_INVOCATION_TIMEOUT_SECONDS (not charged: the caller got no
    answer). An answer — the agent's success or its own error — is charged and counted once,
    through the same service as the runtime's invocation reports (ledger ``usage`` row + usage
    event keyed by the invocation id).
    """
    credits = settings.PIXELL_INVOCATION_CREDITS
    available = Organization.objects.values_list("credits", flat=True).get(pk=organization.pk)
    if available < credits:
        raise InsufficientCredits(required=credits, available=available)
    body = json.dumps({"action": action, "data": data}, separators=(",", ":")).encode()
    started = time.perf_counter()
    try:
        answer = client.invoke(
            agent_app.pk, body, timeout=settings.PIXELL_INVOCATION_TIMEOUT_SECONDS
        )
    except client.NotRunning:
        raise errors.NotRunning() from None
    except client.InvocationTimedOut:
        raise errors.InvocationTimeout(
            f"The agent did not answer within {settings.PIXELL_INVOCATION_TIMEOUT_SECONDS} s"
        ) from None
    except client.RuntimeUnavailable as exc:
        raise errors.RuntimeUnavailable(str(exc)) from None
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    invocation_id = uuid.uuid4()
    charged = _meter(
        invocation_id=invocation_id, organization=organization, agent_app=agent_app, credits=credits
    )
    status = "success" if answer.body.get("status") == "success" else "error"
    error = answer.body.get("error")
    return {
        "id": invocation_id,
        "status": status,
        "data": answer.body.get("data"),
        "error": None if status == "success" else str(error or "The agent reported an error"),
        "duration_ms": duration_ms,
        "credits": charged,
        "version": answer.version,
    }


def _meter(*, invocation_id, organization, agent_app, credits: int) -> int:
    """Charge and count one invocation; returns the credits charged."""
    report = dict(
        report_id=str(invocation_id),
        agent_app_id=agent_app.pk,
        count=1,
        occurred_at=timezone.now(),
        payer=organization,
    )
    try:
        invocation_report_apply(credits=credits, **report)
    except InsufficientCredits:
        # Another spend emptied the balance between the check and the answer. The agent has
        # answered already: count it without a charge rather than hide the answer.
        logger.warning("invocation %s of app %s counted uncharged", invocation_id, agent_app.pk)
        invocation_report_apply(credits=0, **report)
        return 0
    return credits
