"""Outgoing webhooks: turning deployment events into delivery rows, and sending them.

A delivery row is the record of truth (docs/CONTRACT.md §7). ``webhook_deliver`` sends one attempt of a due
delivery and schedules the next; its Celery message carries a countdown, and beat's sweep resends
any pending delivery whose message was lost. Each attempt is claimed by moving ``next_attempt_at``
forward (a lease) with a compare-and-set, so a duplicate message or the sweep cannot send the same
attempt twice at once.
"""

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from agentapps.services import package_download_url
from deployments import crypto, netguard, webhook_signing
from deployments.models import (
    PING_EVENT,
    DeliveryStatus,
    Deployment,
    Webhook,
    WebhookDelivery,
    WebhookDeliveryAttempt,
)
from deployments.presenters import iso
from pixell.observability import metrics

logger = logging.getLogger(__name__)

SECRET_PURPOSE = crypto.WEBHOOK_SECRET_PURPOSE
DELIVERY_TIMEOUT_SECONDS = 10
# An attempt in flight holds its delivery this long; past it (a killed worker), the sweep resends.
ATTEMPT_LEASE_SECONDS = DELIVERY_TIMEOUT_SECONDS + 50
AUTO_DISABLE_AFTER_FAILED_DELIVERIES = 20
RESPONSE_SNIPPET_BYTES = 1000
# The sweep leaves a just-due delivery to its own countdown message for this long.
SWEEP_GRACE_SECONDS = 30


# The Celery task is defined beside the delivery loop it drives, not in tasks.py: an attempt
# schedules the next through it and it runs the next attempt, one loop that one module holds, so
# neither module imports the other. Its name is the one tasks.py (which re-exports it) would give.
@shared_task(name="deployments.tasks.webhook_deliver_task", ignore_result=True)
def webhook_deliver_task(delivery_id: str) -> None:
    webhook_deliver(delivery_id=delivery_id)


def _enqueue(delivery_id, *, countdown: float | None = None) -> None:
    if countdown:
        webhook_deliver_task.apply_async(args=[str(delivery_id)], countdown=countdown)
    else:
        webhook_deliver_task.delay(str(delivery_id))


def enqueue_on_commit(delivery_id, *, countdown: float | None = None) -> None:
    # robust: a lost message is resent by beat's sweep; it must not undo the committed change.
    transaction.on_commit(lambda: _enqueue(delivery_id, countdown=countdown), robust=True)


def webhook_secret_encrypt(secret: str) -> str:
    return crypto.encrypt_text(secret, purpose=SECRET_PURPOSE)


def webhook_secret(webhook: Webhook) -> str:
    return crypto.decrypt_text(webhook.secret_encrypted, purpose=SECRET_PURPOSE)


def _encode(payload: dict) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def _package_link(package) -> str | None:
    """The package's ``s3_url`` as of now, or None once the package is gone."""
    if package is None or package.deleted_at is not None:
        return None
    try:
        return package_download_url(package=package)
    except Exception:  # a link is a convenience: never let it block the event
        logger.exception("no download URL for package %s", package.id)
        return None


def deployment_event_payload(*, deployment: Deployment, event: str, now: datetime) -> dict:
    return {
        "event": event,
        "timestamp": iso(now),
        "data": {
            "deployment_id": str(deployment.id),
            "agent_app_id": str(deployment.agent_app_id),
            "package_id": str(deployment.package_id),
            "version": deployment.version,
            "status": deployment.status,
            "duration_seconds": deployment.duration_seconds,
            "error": deployment.error,
            "s3_url": _package_link(deployment.package),
        },
    }


def _attempt_body(delivery: WebhookDelivery) -> str:
    """The body this attempt sends: the stored one, with a deployment event's ``s3_url`` signed
    afresh. A presigned link lives DOWNLOAD_URL_SECONDS (an hour) and the retry schedule is
    longer, so a link minted at the first send would be dead on a late retry. Everything else,
    and the webhook-id, stay the message's own (docs/DECISIONS.md)."""
    if delivery.deployment is None or delivery.event == PING_EVENT:
        return delivery.body
    try:
        payload = json.loads(delivery.body)
    except ValueError:
        return delivery.body
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict) or "s3_url" not in data:
        return delivery.body
    data["s3_url"] = _package_link(delivery.deployment.package)
    return _encode(payload)


def webhook_event_emit(*, deployment, event: str, agent_app_id=None) -> list[WebhookDelivery]:
    """Create a delivery for each active webhook of the app subscribed to ``event``.

    Call inside the transaction that changes the deployment's status: the deliveries exist if and
    only if the change committed, and their messages leave after the commit. ``deployment`` may be
    a callable returning it (with ``agent_app_id`` given), so the hot path without webhooks costs
    one query.
    """
    if agent_app_id is None:
        agent_app_id = deployment.agent_app_id
    webhooks = [
        w
        for w in Webhook.all_orgs.filter(agent_app_id=agent_app_id, active=True)
        if event in (w.events or [])
    ]
    if not webhooks:
        return []
    if callable(deployment):
        deployment = deployment()
    now = timezone.now()
    body = _encode(deployment_event_payload(deployment=deployment, event=event, now=now))
    deliveries = []
    for webhook in webhooks:
        delivery = WebhookDelivery.all_orgs.create(
            organization_id=webhook.organization_id,
            webhook=webhook,
            deployment=deployment,
            event=event,
            message_id=webhook_signing.generate_message_id(),
            body=body,
            next_attempt_at=now,
        )
        enqueue_on_commit(delivery.id)
        deliveries.append(delivery)
    return deliveries


def webhook_ping_create(*, webhook: Webhook) -> WebhookDelivery:
    now = timezone.now()
    payload = {
        "event": PING_EVENT,
        "timestamp": iso(now),
        "data": {"webhook_id": str(webhook.id), "agent_app_id": str(webhook.agent_app_id)},
    }
    with transaction.atomic():
        delivery = WebhookDelivery.all_orgs.create(
            organization_id=webhook.organization_id,
            webhook=webhook,
            event=PING_EVENT,
            message_id=webhook_signing.generate_message_id(),
            body=_encode(payload),
            next_attempt_at=now,
        )
        enqueue_on_commit(delivery.id)
    return delivery


def webhook_delivery_redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send the same message again: a new delivery row with the same webhook-id and body (a
    deployment event's package link is signed afresh when it is sent, like every attempt's)."""
    with transaction.atomic():
        again = WebhookDelivery.all_orgs.create(
            organization_id=delivery.organization_id,
            webhook_id=delivery.webhook_id,
            deployment_id=delivery.deployment_id,
            event=delivery.event,
            message_id=delivery.message_id,
            body=delivery.body,
            next_attempt_at=timezone.now(),
            redelivery_of=delivery,
        )
        enqueue_on_commit(again.id)
    return again


def _snippet(content: bytes) -> str:
    return content[:RESPONSE_SNIPPET_BYTES].decode("utf-8", errors="replace")


def webhook_deliver(*, delivery_id) -> WebhookDelivery | None:
    """Send the next attempt of a delivery if it is due. Safe to call any number of times."""
    delivery = (
        WebhookDelivery.all_orgs.select_related("webhook", "deployment__package")
        .filter(id=delivery_id)
        .first()
    )
    if delivery is None or not _attempt_claim(delivery):
        return delivery
    if not delivery.webhook.active:
        return _delivery_fail_for_inactive_webhook(delivery)
    attempt = _attempt_send(delivery)
    next_delay = _attempt_record(delivery, attempt)
    _attempt_report(delivery, attempt, next_delay)
    return WebhookDelivery.all_orgs.get(id=delivery.id)


@dataclass
class _Attempt:
    """One HTTP attempt of a delivery, as it is recorded."""

    number: int
    requested_at: datetime
    status_code: int | None = None
    snippet: str = ""
    error: str = ""
    # Retrying cannot help (a forbidden URL, an undecryptable secret): the delivery fails now.
    permanent: bool = False
    duration_ms: int = 0
    # The exact text sent (a deployment event's link is signed per attempt).
    body: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _attempt_claim(delivery: WebhookDelivery) -> bool:
    """Whether this caller may send the delivery's next attempt (it is pending, due and unclaimed)."""
    if delivery.status != DeliveryStatus.PENDING:
        return False
    now = timezone.now()
    if delivery.next_attempt_at and delivery.next_attempt_at > now:
        return False  # early or duplicate message: the due one (or the sweep) sends it
    # Claim this attempt by pushing next_attempt_at past the attempt's duration. The filter on the
    # values we read makes it a compare-and-set: of two concurrent callers exactly one updates.
    claimed = WebhookDelivery.all_orgs.filter(
        id=delivery.id,
        status=DeliveryStatus.PENDING,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at,
    ).update(next_attempt_at=now + timedelta(seconds=ATTEMPT_LEASE_SECONDS))
    return claimed == 1


def _delivery_fail_for_inactive_webhook(delivery: WebhookDelivery) -> WebhookDelivery:
    WebhookDelivery.all_orgs.filter(id=delivery.id).update(
        status=DeliveryStatus.FAILED, completed_at=timezone.now(), next_attempt_at=None
    )
    return WebhookDelivery.all_orgs.get(id=delivery.id)


def _attempt_send(delivery: WebhookDelivery) -> _Attempt:
    """POST the signed body once; every failure becomes the attempt's error, none escapes."""
    webhook = delivery.webhook
    attempt = _Attempt(number=delivery.attempts + 1, requested_at=timezone.now())
    attempt.body = _attempt_body(delivery)
    body = attempt.body.encode("utf-8")
    started = time.monotonic()
    try:
        headers = webhook_signing.build_headers(
            webhook_secret(webhook),
            delivery.message_id,
            int(attempt.requested_at.timestamp()),
            body,
            delivery.event,
        )
        response = netguard.safe_post(
            webhook.url,
            data=body,
            headers=headers,
            timeout=DELIVERY_TIMEOUT_SECONDS,
            allow_private=settings.PIXELL_WEBHOOK_ALLOW_PRIVATE_NETWORKS,
            max_response_bytes=RESPONSE_SNIPPET_BYTES,
        )
        attempt.status_code = response.status_code
        attempt.snippet = _snippet(response.content)
    except netguard.UnresolvableHostError as exc:
        attempt.error = str(exc)  # DNS may come back: retried like a network error
    except netguard.UnsafeURLError as exc:
        attempt.error = str(exc)
        attempt.permanent = True  # the URL now points somewhere forbidden: retrying cannot help
    except requests.Timeout:
        attempt.error = f"No answer within {DELIVERY_TIMEOUT_SECONDS} s"
    except requests.RequestException as exc:
        attempt.error = f"Request failed: {type(exc).__name__}"
    except ValueError as exc:  # undecryptable secret
        attempt.error = str(exc)
        attempt.permanent = True
    except Exception as exc:
        # Anything else is our bug, not the receiver's: it still counts as an attempt, so the
        # delivery follows its retry schedule to an end instead of being resent forever by the sweep.
        logger.exception("webhook delivery %s attempt %d crashed", delivery.id, attempt.number)
        attempt.error = f"Delivery error: {type(exc).__name__}"
    attempt.duration_ms = int((time.monotonic() - started) * 1000)
    if attempt.status_code is not None and not attempt.succeeded and not attempt.error:
        attempt.error = f"HTTP {attempt.status_code}" + (
            " (redirects are not followed)" if 300 <= attempt.status_code < 400 else ""
        )
    return attempt


def _attempt_record(delivery: WebhookDelivery, attempt: _Attempt) -> int | None:
    """Store the attempt and move the delivery on: succeeded, failed, or retried after a delay.

    Returns the delay before the next attempt, None when the delivery ended.
    """
    webhook = delivery.webhook
    finished = timezone.now()
    with transaction.atomic():
        WebhookDeliveryAttempt.objects.create(
            delivery=delivery,
            number=attempt.number,
            requested_at=attempt.requested_at,
            status_code=attempt.status_code,
            succeeded=attempt.succeeded,
            response_snippet=attempt.snippet,
            duration_ms=attempt.duration_ms,
            error=attempt.error,
        )
        fields = {
            "body": attempt.body or delivery.body,
            "attempts": attempt.number,
            "last_attempt_at": attempt.requested_at,
            "last_status_code": attempt.status_code,
        }
        next_delay = (
            None
            if (attempt.succeeded or attempt.permanent)
            else webhook_signing.retry_delay(attempt.number + 1)
        )
        if attempt.succeeded:
            fields.update(
                status=DeliveryStatus.SUCCEEDED, completed_at=finished, next_attempt_at=None
            )
            Webhook.all_orgs.filter(id=webhook.id).update(consecutive_failures=0)
        elif next_delay is None:
            fields.update(status=DeliveryStatus.FAILED, completed_at=finished, next_attempt_at=None)
            _record_failed_delivery(webhook, finished)
        else:
            fields.update(next_attempt_at=finished + timedelta(seconds=next_delay))
            enqueue_on_commit(delivery.id, countdown=next_delay)
        WebhookDelivery.all_orgs.filter(id=delivery.id).update(**fields)
    return next_delay


def _attempt_report(delivery: WebhookDelivery, attempt: _Attempt, next_delay: int | None) -> None:
    outcome = "succeeded" if attempt.succeeded else ("failed" if next_delay is None else "retrying")
    metrics.webhook_delivery_observed(outcome=outcome)
    logger.info(
        "webhook delivery %s attempt %d → %s %s",
        delivery.id,
        attempt.number,
        attempt.status_code,
        "ok" if attempt.succeeded else attempt.error,
    )


def _record_failed_delivery(webhook: Webhook, now: datetime) -> None:
    # F() keeps concurrent failures of different deliveries from losing increments; the
    # conditional update disables the webhook exactly once.
    Webhook.all_orgs.filter(id=webhook.id).update(
        consecutive_failures=F("consecutive_failures") + 1
    )
    Webhook.all_orgs.filter(
        id=webhook.id, active=True, consecutive_failures__gte=AUTO_DISABLE_AFTER_FAILED_DELIVERIES
    ).update(active=False, disabled_at=now)


def webhook_deliveries_due(
    *, now: datetime | None = None, grace_seconds: int = SWEEP_GRACE_SECONDS, limit: int = 500
):
    now = now or timezone.now()
    return list(
        WebhookDelivery.all_orgs.filter(
            status=DeliveryStatus.PENDING,
            next_attempt_at__lte=now - timedelta(seconds=grace_seconds),
        )
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )


def webhook_deliveries_sweep(
    *, now: datetime | None = None, grace_seconds: int = SWEEP_GRACE_SECONDS
) -> int:
    """Re-enqueue pending deliveries whose message was lost (due for longer than the grace)."""
    due = webhook_deliveries_due(now=now, grace_seconds=grace_seconds)
    for delivery_id in due:
        _enqueue(delivery_id)
    return len(due)
