"""Invocations through the platform (docs/CONTRACT.md §11): check the balance, run, meter once."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from django.conf import settings
from django.utils import timezone

from agentapps.models import AgentApp
from billing.errors import InsufficientCredits
from billing.services import invocation_report_apply
from organizations.models import Organization
from pixell.errors import NotFound

# runtime.tasks imports this module too (the retry task calls back in); modules are bound whichever
# of the two Python imports first, as in accounts.
from runtime import client, errors, tasks

logger = logging.getLogger(__name__)


# Below this many invocations' worth of credits an answer is metered before it is sent: a caller
# near zero cannot then outrun its balance by calling faster than the ledger writes.
METER_FIRST_BELOW_CALLS = 100
RETRY_METERING_SECONDS = 30


@dataclass
class Invocation:
    """An answered invocation, not yet metered: ``result`` is the API's ``invocation`` object."""

    result: dict
    organization: Organization  # the payer
    agent_app: AgentApp
    occurred_at: datetime


def invocation_run(*, organization, agent_app, action: str, data: dict) -> dict:
    """Invoke the app's running agent for ``organization`` (the payer), meter it, return the result.

    The dashboard's Try-it, which shows the charge: ``invocation_call`` then ``invocation_meter``.
    """
    invocation = invocation_call(
        organization=organization, agent_app=agent_app, action=action, data=data
    )
    invocation.result["credits"] = invocation_meter(invocation=invocation)
    return invocation.result


def invocation_call(*, organization, agent_app, action: str, data: dict) -> Invocation:
    """Invoke the app's running agent for ``organization`` (the payer); the caller meters it.

    402 before anything runs when the balance cannot cover PIXELL_INVOCATION_CREDITS; 409 when no
    version runs; 504 past PIXELL_INVOCATION_TIMEOUT_SECONDS (not charged: the caller got no
    answer). An answer — the agent's success or its own error — costs PIXELL_INVOCATION_CREDITS,
    charged exactly once by ``invocation_meter`` or ``invocation_meter_deferred``.
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
    return Invocation(
        result=result, organization=organization, agent_app=agent_app, occurred_at=timezone.now()
    )


def invocation_meter(*, invocation: Invocation) -> int:
    """Charge and count one answered invocation, once (keyed by its id); returns the credits charged."""
    return _charge(
        invocation_id=str(invocation.result["id"]),
        agent_app_id=invocation.agent_app.pk,
        payer=invocation.organization,
        credits=invocation.result["credits"],
        occurred_at=invocation.occurred_at,
    )


def invocation_meter_deferred(*, invocation: Invocation) -> Callable[[], None] | None:
    """Meter now and return None when the payer's balance is low; else return the metering to run
    once the answer is sent (docs/DECISIONS.md, "Local agent runtime and invocations")."""
    if invocation.organization.credits < invocation.result["credits"] * METER_FIRST_BELOW_CALLS:
        invocation.result["credits"] = invocation_meter(invocation=invocation)
        return None
    return partial(_meter_or_retry, invocation=invocation)


def _meter_or_retry(*, invocation: Invocation) -> None:
    try:
        invocation_meter(invocation=invocation)
    except NotFound:
        # The app was deleted while it answered: there is nothing to count the call against.
        logger.warning(
            "invocation %s of deleted app %s not metered",
            invocation.result["id"], invocation.agent_app.pk,
        )  # fmt: skip
    except Exception:
        # The answer is out: hand the charge to the worker, which retries it (keyed by the id, so
        # a charge that did commit is not repeated).
        logger.warning(
            "invocation %s of app %s (payer %s) could not be metered now; the worker retries it",
            invocation.result["id"], invocation.agent_app.pk, invocation.organization.pk,
            exc_info=True,
        )  # fmt: skip
        tasks.invocation_meter_retry_task.apply_async(
            kwargs={
                "invocation_id": str(invocation.result["id"]),
                "agent_app_id": str(invocation.agent_app.pk),
                "payer_id": str(invocation.organization.pk),
                "credits": invocation.result["credits"],
                "occurred_at": invocation.occurred_at.isoformat(),
            },
            countdown=RETRY_METERING_SECONDS,
        )


def invocation_meter_retried(
    *, invocation_id: str, agent_app_id: str, payer_id: str, credits: int, occurred_at: str
) -> int:
    """The worker's retry of ``invocation_meter`` for an answer the web process could not meter.

    Raises Organization.DoesNotExist (payer deleted) and NotFound (app deleted): not retried."""
    return _charge(
        invocation_id=invocation_id,
        agent_app_id=agent_app_id,
        payer=Organization.objects.get(pk=payer_id),
        credits=credits,
        occurred_at=datetime.fromisoformat(occurred_at),
    )


def _charge(
    *,
    invocation_id: str,
    agent_app_id: uuid.UUID | str,
    payer: Organization,
    credits: int,
    occurred_at: datetime,
) -> int:
    report = dict(
        report_id=invocation_id,
        agent_app_id=agent_app_id,
        count=1,
        occurred_at=occurred_at,
        payer=payer,
    )
    try:
        invocation_report_apply(credits=credits, **report)
    except InsufficientCredits:
        # A concurrent spend emptied the balance since the check: the answer already given is
        # counted with 0 credits rather than hidden.
        logger.warning("invocation %s of app %s counted uncharged", invocation_id, agent_app_id)
        invocation_report_apply(credits=0, **report)
        return 0
    return credits
