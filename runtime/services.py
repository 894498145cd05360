"""Invocations through the platform (docs/CONTRACT.md §11): check the balance, run, meter once."""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from billing.errors import InsufficientCredits
from billing.services import invocation_report_apply
from organizations.models import Organization
from runtime import client, errors

logger = logging.getLogger(__name__)


@dataclass
class Invocation:
    """An answered invocation, not yet metered: ``result`` is the API's ``invocation`` object."""

    result: dict
    organization: Organization
    agent_app: object


def invocation_run(*, organization, agent_app, action: str, data: dict) -> dict:
    """Invoke the app's running agent for ``organization`` (the payer), meter it, return the result.

    ``invocation_call`` then ``invocation_meter``: the dashboard's Try-it, which shows the charge.
    """
    invocation = invocation_call(
        organization=organization, agent_app=agent_app, action=action, data=data
    )
    invocation.result["credits"] = invocation_meter(invocation)
    return invocation.result


def invocation_call(*, organization, agent_app, action: str, data: dict) -> Invocation:
    """Invoke the app's running agent for ``organization`` (the payer); the caller meters it.

    402 before anything runs when the balance cannot cover PIXELL_INVOCATION_CREDITS; 409 when no
    version runs; 504 past PIXELL_INVOCATION_TIMEOUT_SECONDS (not charged: the caller got no
    answer). An answer — the agent's success or its own error — costs PIXELL_INVOCATION_CREDITS,
    charged by ``invocation_meter`` exactly once. The API meters after its answer is sent
    (docs/DECISIONS.md, "Local agent runtime and invocations").
    """
    credits = settings.PIXELL_INVOCATION_CREDITS
    # The request's organization is current: read per request, or confirmed against the
    # organization's version token, which every balance change replaces.
    if organization.credits < credits:
        raise InsufficientCredits(required=credits, available=organization.credits)
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
    status = "success" if answer.body.get("status") == "success" else "error"
    error = answer.body.get("error")
    result = {
        "id": uuid.uuid4(),
        "status": status,
        "data": answer.body.get("data"),
        "error": None if status == "success" else str(error or "The agent reported an error"),
        "duration_ms": duration_ms,
        "credits": credits,
        "version": answer.version,
    }
    return Invocation(result=result, organization=organization, agent_app=agent_app)


def invocation_meter(invocation: Invocation) -> int:
    """Charge and count one answered invocation, once (keyed by its id); returns the credits charged.

    If a concurrent spend emptied the balance since the check, the answer already given is counted
    with 0 credits rather than hidden.
    """
    credits = invocation.result["credits"]
    report = dict(
        report_id=str(invocation.result["id"]),
        agent_app_id=invocation.agent_app.pk,
        count=1,
        occurred_at=timezone.now(),
        payer=invocation.organization,
    )
    try:
        invocation_report_apply(credits=credits, **report)
    except InsufficientCredits:
        logger.warning(
            "invocation %s of app %s counted uncharged", report["report_id"], report["agent_app_id"]
        )
        invocation_report_apply(credits=0, **report)
        return 0
    return credits
