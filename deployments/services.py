"""Deployment and webhook writes. API views, admin actions, tasks and the cron endpoint call these.

Deploy flow (docs/CONTRACT.md §4, §5): cheap pre-checks → ``package_ingest`` (validation and storing: slow
I/O, outside any transaction) → one transaction holding the credit reservation, the package row
(``uploading``), the deployment (``queued``) and its five pending steps, the ``deployment.queued``
deliveries and, on commit, the pipeline's nudge. Anything failing after ingest discards the
stored bytes, and the transaction leaves nothing behind (no charge, no rows).
"""

import hashlib
import json
import logging
import math
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, transaction
from django.utils import timezone

from agentapps import services as packages
from agentapps.errors import VersionExists
from billing.models import TransactionType
from billing.services import credits_apply
from deployments import crypto, netguard, queue, webhook_signing
from deployments.delivery import webhook_event_emit, webhook_secret_encrypt
from deployments.errors import (
    DeploymentNotCancellable,
    DeploymentNotRetryable,
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    InvalidWebhook,
)
from deployments.models import (
    STEP_NAMES,
    DeliveryStatus,
    Deployment,
    DeploymentStatus,
    DeploymentStep,
    IdempotencyRecord,
    StepStatus,
    Webhook,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEvent,
)
from deployments.pipeline import ENVIRONMENT_PURPOSE
from deployments.presenters import deployment_accepted_body
from deployments.selectors import estimated_duration_seconds
from pixell.db import delete_in_batches
from pixell.errors import ValidationError

MIB = 1024 * 1024
IDEMPOTENCY_TTL = timedelta(hours=24)
# A request that claimed a key but never answered (its process was killed mid-upload) leaves a
# pending record. Its answer is written in the same transaction as its deployment, so a pending
# record means nothing was accepted or charged: past this age the key is free again.
IDEMPOTENCY_IN_FLIGHT_TIMEOUT = timedelta(minutes=15)
MAX_WEBHOOKS_PER_APP = 20
MIN_WEBHOOK_SECRET_LENGTH = 16

logger = logging.getLogger(__name__)


def deployment_cost(size_bytes: int) -> int:
    """1 credit per started MiB, at least 1 (docs/CONTRACT.md §5)."""
    return max(1, math.ceil(size_bytes / MIB))


# --- idempotency ------------------------------------------------------------------------------


def _file_sha256(upload) -> str:
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


def deploy_request_hash(
    *, agent_app, upload, version, release_notes, force_overwrite, environment, signature
) -> str:
    canonical = json.dumps(
        {
            "agent_app": str(agent_app.id),
            "file_sha256": _file_sha256(upload),
            "version": version,
            "release_notes": release_notes,
            "force_overwrite": force_overwrite,
            "environment": environment,
            "signature_sha256": hashlib.sha256(signature).hexdigest()
            if signature is not None
            else None,
        },
        sort_keys=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class IdempotencyClaim:
    record: IdempotencyRecord | None = None
    replay: tuple[int, dict] | None = None


def _idempotency_begin(*, organization, key: str, request_hash: str) -> IdempotencyClaim:
    """Reserve ``key`` for this request, or return the stored answer to replay.

    Raises IdempotencyKeyReused (different body) or IdempotencyKeyInFlight (same body, the first
    request still running).
    """
    records = IdempotencyRecord.objects.for_org(organization)
    for _ in range(3):
        existing = records.filter(key=key).first()
        now = timezone.now()
        abandoned = (
            existing is not None
            and existing.response_status is None
            and existing.created_at < now - IDEMPOTENCY_IN_FLIGHT_TIMEOUT
        )
        if existing is not None and (abandoned or existing.created_at < now - IDEMPOTENCY_TTL):
            # Expired or abandoned: forget it (conditionally, in case another request just did the same).
            records.filter(id=existing.id, created_at=existing.created_at).delete()
            existing = None
        if existing is not None:
            if existing.request_hash != request_hash:
                raise IdempotencyKeyReused()
            if existing.response_status is None:
                raise IdempotencyKeyInFlight()
            return IdempotencyClaim(replay=(existing.response_status, existing.response_body))
        try:
            with transaction.atomic():
                record = records.create(
                    organization=organization, key=key, request_hash=request_hash
                )
            return IdempotencyClaim(record=record)
        except IntegrityError:
            continue  # a concurrent request with the same key inserted first: read its record
    raise IdempotencyKeyInFlight()


def _idempotency_abandon(record: IdempotencyRecord | None) -> None:
    # The request failed: free the key so the client can retry it (nothing was charged).
    if record is not None:
        IdempotencyRecord.all_orgs.filter(id=record.id, response_status__isnull=True).delete()


def idempotency_records_purge(*, now=None) -> int:
    cutoff = (now or timezone.now()) - IDEMPOTENCY_TTL
    removed = delete_in_batches(
        IdempotencyRecord.all_orgs.filter(created_at__lt=cutoff),
        batch_size=settings.PIXELL_RETENTION_BATCH_SIZE,
        max_batches=settings.PIXELL_RETENTION_MAX_BATCHES,
    )
    logger.info("retention: removed %d idempotency records", removed, extra={"removed": removed})
    return removed


def webhook_deliveries_purge(*, now=None) -> dict:
    """Webhook history older than PIXELL_RETENTION_WEBHOOK_DAYS: finished deliveries (their
    bodies and attempt logs with the receivers' response snippets go with them), and any older
    attempt log row. Filters on the indexed created_at; pending deliveries are never removed."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.PIXELL_RETENTION_WEBHOOK_DAYS)
    batches = {
        "batch_size": settings.PIXELL_RETENTION_BATCH_SIZE,
        "max_batches": settings.PIXELL_RETENTION_MAX_BATCHES,
    }
    deliveries = delete_in_batches(
        WebhookDelivery.all_orgs.filter(
            created_at__lt=cutoff,
            status__in=[DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED],
        ),
        **batches,
    )
    attempts = delete_in_batches(
        WebhookDeliveryAttempt.objects.filter(created_at__lt=cutoff), **batches
    )
    removed = {"deliveries": deliveries, "attempts": attempts}
    logger.info(
        "retention: removed %d webhook deliveries and %d further attempt logs",
        deliveries,
        attempts,
        extra={"removed": removed},
    )
    return removed


# --- deploy -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeployResult:
    status_code: int
    body: dict
    deployment: Deployment | None = None
    replayed: bool = False


def deployment_create(
    *,
    organization,
    agent_app,
    actor,
    upload,
    version: str | None,
    release_notes: str = "",
    force_overwrite: bool = False,
    environment: dict | None = None,
    signature: bytes | None = None,
    idempotency_key: str | None = None,
) -> DeployResult:
    """The deploy flow of this module's docstring: claim the idempotency key (or replay its
    answer), ingest the package, then queue the deployment in one transaction."""
    environment = environment or {}
    claim = IdempotencyClaim()
    if idempotency_key:
        request_hash = deploy_request_hash(
            agent_app=agent_app,
            upload=upload,
            version=version,
            release_notes=release_notes,
            force_overwrite=force_overwrite,
            environment=environment,
            signature=signature,
        )
        claim = _idempotency_begin(
            organization=organization, key=idempotency_key, request_hash=request_hash
        )
    if claim.replay is not None:
        status_code, body = claim.replay
        return DeployResult(status_code=status_code, body=body, replayed=True)

    ingested = None
    try:
        ingested = _deploy_package_ingest(
            organization=organization,
            agent_app=agent_app,
            upload=upload,
            version=version,
            force_overwrite=force_overwrite,
            signature=signature,
        )
        deployment, body = _deploy_queue(
            organization=organization,
            agent_app=agent_app,
            actor=actor,
            ingested=ingested,
            release_notes=release_notes,
            force_overwrite=force_overwrite,
            environment=environment,
            idempotency_record=claim.record,
        )
    except BaseException:
        # Nothing was accepted: the stored bytes go, and the key is free for the client's retry.
        if ingested is not None:
            packages.package_discard_ingested(ingested=ingested)
        _idempotency_abandon(claim.record)
        raise
    # One console line per state change (make run's console; docs/DECISIONS.md).
    logger.info(
        "deployment %s queued: %s v%s (%s credit%s)",
        deployment.id,
        agent_app.name,
        deployment.version,
        deployment.cost,
        "" if deployment.cost == 1 else "s",
    )
    return DeployResult(status_code=202, body=body, deployment=deployment)


def _deploy_package_ingest(
    *, organization, agent_app, upload, version, force_overwrite, signature
) -> packages.IngestedPackage:
    """Validate and store the package: slow I/O, so outside any transaction."""
    if version:
        packages.package_check_version_free(
            agent_app=agent_app, version=version, force_overwrite=force_overwrite
        )
    return packages.package_ingest(
        organization=organization,
        agent_app=agent_app,
        upload=upload,
        form_version=version,
        signature=signature,
    )


def _deploy_queue(
    *,
    organization,
    agent_app,
    actor,
    ingested,
    release_notes: str,
    force_overwrite: bool,
    environment: dict,
    idempotency_record: IdempotencyRecord | None,
) -> tuple[Deployment, dict]:
    """One transaction: the credit reservation, the package, the deployment and its steps, the
    idempotency key's answer and the queued event; the pipeline's nudge leaves on commit."""
    cost = deployment_cost(ingested.size)
    estimate = estimated_duration_seconds()
    deployment_id = uuid.uuid4()
    with transaction.atomic():
        # The reservation first: it locks the organization's row, so concurrent deploys of
        # one organization serialize here and the balance cannot be spent twice.
        credits_apply(
            organization=organization,
            amount=-cost,
            type=TransactionType.USAGE,
            description=f"Deployment of {agent_app.name} v{ingested.version}",
            reference=queue.reserve_reference(deployment_id),
            actor=actor,
            metadata={"deployment_id": str(deployment_id), "size_bytes": ingested.size},
        )
        package = packages.package_create(
            ingested=ingested,
            organization=organization,
            agent_app=agent_app,
            status="uploading",
            release_notes=release_notes,
            actor=actor,
            force_overwrite=force_overwrite,
        )
        deployment = _deployment_row_create(
            deployment_id=deployment_id,
            organization=organization,
            agent_app=agent_app,
            package=package,
            actor=actor,
            cost=cost,
            release_notes=release_notes,
            force_overwrite=force_overwrite,
            environment=environment,
        )
        body = deployment_accepted_body(deployment=deployment, estimated_duration_seconds=estimate)
        if idempotency_record is not None:
            IdempotencyRecord.all_orgs.filter(id=idempotency_record.id).update(
                response_status=202, response_body=body, deployment=deployment
            )
        webhook_event_emit(deployment=deployment, event=WebhookEvent.QUEUED)
        queue.nudge_on_commit(deployment.id)
    return deployment, body


def _deployment_row_create(
    *,
    deployment_id,
    organization,
    agent_app,
    package,
    actor,
    cost: int,
    release_notes: str,
    force_overwrite: bool,
    environment: dict,
) -> Deployment:
    """The queued deployment and its pending steps."""
    deployment = Deployment.objects.for_org(organization).create(
        id=deployment_id,
        organization=organization,
        agent_app=agent_app,
        package=package,
        version=package.version,
        status=DeploymentStatus.QUEUED,
        cost=cost,
        release_notes=release_notes,
        force_overwrite=force_overwrite,
        environment_encrypted=crypto.encrypt_json(environment, purpose=ENVIRONMENT_PURPOSE)
        if environment
        else "",
        queued_at=timezone.now(),
        created_by=actor,
    )
    DeploymentStep.objects.bulk_create(
        DeploymentStep(deployment=deployment, name=name, position=index, status=StepStatus.PENDING)
        for index, name in enumerate(STEP_NAMES)
    )
    return deployment


def deployment_dry_run(
    *,
    organization,
    agent_app,
    upload,
    version: str | None,
    force_overwrite: bool = False,
    signature: bytes | None = None,
) -> dict:
    """Validate and quote: ``{"valid", "cost", "warnings", "errors"}``; stores and charges nothing."""
    result = packages.package_validate_only(
        organization=organization,
        agent_app=agent_app,
        upload=upload,
        form_version=version,
        signature=signature,
    )
    errors = list(getattr(result, "errors", []) or [])
    warnings = list(getattr(result, "warnings", []) or [])
    size = getattr(result, "size", None) or getattr(upload, "size", 0) or 0
    checked_version = getattr(result, "version", None) or version
    if checked_version and not errors:
        try:
            packages.package_check_version_free(
                agent_app=agent_app, version=checked_version, force_overwrite=force_overwrite
            )
        except VersionExists as exc:
            errors.append(f"{exc.message}. Use force_overwrite to replace it.")
    cost = deployment_cost(size)
    organization.refresh_from_db(fields=["credits"])
    if organization.credits < cost:
        warnings.append(
            f"Insufficient credits: this deploy needs {cost}, the balance is {organization.credits}"
        )
    return {"valid": not errors, "cost": cost, "warnings": warnings, "errors": errors}


def deployment_cancel(*, deployment: Deployment, actor=None) -> Deployment:
    """Cancel a queued deployment and refund it; 409 once it has started (docs/CONTRACT.md §5)."""
    if not queue.deployment_cancel_queued(deployment_id=deployment.id):
        deployment.refresh_from_db(fields=["status"])
        raise DeploymentNotCancellable(
            f"Deployment is {deployment.status}; only a queued deployment can be cancelled"
        )
    return Deployment.all_orgs.prefetch_related("steps").get(id=deployment.id)


def deployment_retry(*, deployment: Deployment, actor=None) -> Deployment:
    """Admin: a failed or cancelled deployment as a new deployment of the same package bytes.

    The old package is ``failed`` (its version free again), so a fresh package row is made from the
    same stored object and a new reservation is taken; the old one was already refunded.
    """
    if deployment.status not in (DeploymentStatus.FAILED, DeploymentStatus.CANCELLED):
        raise DeploymentNotRetryable(
            f"Deployment is {deployment.status}; only failed or cancelled ones can be retried"
        )
    handle = packages.package_file_open(package=deployment.package)
    try:
        upload = File(handle, name="agent.apkg")
        upload.size = deployment.package.size
        result = deployment_create(
            organization=deployment.organization,
            agent_app=deployment.agent_app,
            actor=actor,
            upload=upload,
            version=deployment.version,
            release_notes=deployment.release_notes,
            force_overwrite=deployment.force_overwrite,
            environment=crypto.decrypt_json(
                deployment.environment_encrypted, purpose=ENVIRONMENT_PURPOSE
            )
            or {},
        )
    finally:
        handle.close()
    return result.deployment


# --- webhooks ---------------------------------------------------------------------------------


def _validate_events(events) -> list[str]:
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise InvalidWebhook(
            "events must be a non-empty list of event names",
            details={"events": ["A non-empty list is required."]},
        )
    unknown = [e for e in events if e not in WebhookEvent.values]
    if unknown:
        raise InvalidWebhook(
            f"Unknown event(s): {', '.join(unknown)}",
            details={
                "events": [
                    f"Unknown event {e!r}; expected one of {', '.join(WebhookEvent.values)}."
                    for e in unknown
                ]
            },
        )
    return list(dict.fromkeys(events))  # de-duplicated, order kept


def _validate_secret(secret: str) -> None:
    if len(secret) < MIN_WEBHOOK_SECRET_LENGTH:
        raise InvalidWebhook(
            f"secret must have at least {MIN_WEBHOOK_SECRET_LENGTH} characters",
            details={
                "secret": [
                    f"Ensure this field has at least {MIN_WEBHOOK_SECRET_LENGTH} characters."
                ]
            },
        )
    try:
        webhook_signing.secret_key_bytes(secret)
    except ValueError as exc:
        raise InvalidWebhook(str(exc), details={"secret": [str(exc)]}) from None


def webhook_url_check(url: str) -> None:
    try:
        netguard.check_url(url, allow_private=settings.PIXELL_WEBHOOK_ALLOW_PRIVATE_NETWORKS)
    except netguard.UnsafeURLError as exc:
        raise InvalidWebhook(exc.message, details={"url": [exc.message]}) from None


def webhook_create(
    *, organization, agent_app, url: str, events, secret: str | None = None, actor=None
) -> tuple[Webhook, str]:
    """Returns the webhook and its secret, which the creation answer shows once."""
    events = _validate_events(events)
    if secret:
        _validate_secret(secret)
    else:
        secret = webhook_signing.generate_secret()
    webhook_url_check(url)  # DNS: outside the transaction
    with transaction.atomic():
        count = Webhook.objects.for_org(organization).filter(agent_app=agent_app).count()
        if count >= MAX_WEBHOOKS_PER_APP:
            raise ValidationError(f"An app can have at most {MAX_WEBHOOKS_PER_APP} webhooks")
        webhook = Webhook.objects.for_org(organization).create(
            organization=organization,
            agent_app=agent_app,
            url=url,
            events=events,
            secret_encrypted=webhook_secret_encrypt(secret),
            created_by=actor,
        )
    return webhook, secret


def webhook_delete(*, webhook: Webhook) -> None:
    webhook.delete()


def webhook_update(
    *, webhook: Webhook, url: str | None = None, events=None, active: bool | None = None
) -> Webhook:
    """Change a webhook. ``active: true`` re-enables an auto-disabled one with a fresh failure streak."""
    fields = []
    if events is not None:
        webhook.events = _validate_events(events)
        fields.append("events")
    if url is not None and url != webhook.url:
        webhook_url_check(url)
        webhook.url = url
        fields.append("url")
    if active is not None and active != webhook.active:
        webhook.active = active
        fields.append("active")
        if active:
            webhook.consecutive_failures, webhook.disabled_at = 0, None
            fields += ["consecutive_failures", "disabled_at"]
    if fields:
        webhook.save(update_fields=[*fields, "updated_at"])
    return webhook
