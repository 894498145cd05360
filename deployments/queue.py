"""The deployments table as a job queue (docs/CONTRACT.md §5).

Claiming: ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL, so concurrent workers each lock a
different queued row without waiting on one another; then, on every database, a compare-and-set
``UPDATE … WHERE status = 'queued'`` that only one claimer can win (on SQLite the IMMEDIATE
transaction already serializes claimers; the compare-and-set keeps the logic correct anywhere).

Fencing: a claim is (worker_id, attempts). Every later write of the runner — heartbeats, step
transitions, completion — is conditional on the row still carrying that pair in ``processing``.
A worker that lost its job (its heartbeat expired and another worker took the job up) notices at
its next write and stops, so a job's effects happen once.

Money: the reservation was taken at acceptance; failure and cancellation refund it through
``credits_apply`` with the reference ``deployment:<id>:refund``, which the ledger's unique
constraint makes happen at most once whichever path (runner, recovery, admin) gets there.
"""

import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from agentapps.models import Package, PackageStatus
from billing.models import TransactionType
from billing.services import credits_apply
from deployments import pipeline
from deployments.delivery import webhook_event_emit
from deployments.models import (
    TERMINAL_STATUSES,
    Deployment,
    DeploymentStatus,
    DeploymentStep,
    StepStatus,
    WebhookEvent,
)
from deployments.progress import progress_transaction
from deployments.selectors import stuck_cutoff

logger = logging.getLogger(__name__)

# A job released after a transient error waits this long (times its attempt number).
TRANSIENT_RETRY_BASE_SECONDS = 15


class LostClaim(Exception):
    """This worker no longer owns the job (its heartbeat expired and the job was taken up again)."""


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def refund_reference(deployment_id) -> str:
    return f"deployment:{deployment_id}:refund"


def reserve_reference(deployment_id) -> str:
    return f"deployment:{deployment_id}:reserve"


def heartbeat_interval() -> float:
    return max(0.5, min(10.0, settings.PIXELL_DEPLOYMENT_HEARTBEAT_TIMEOUT_SECONDS / 5))


@dataclass
class Claim:
    deployment_id: uuid.UUID
    worker_id: str
    attempt: int
    last_beat: float = 0.0

    def owned(self):
        return Deployment.all_orgs.filter(
            id=self.deployment_id,
            status=DeploymentStatus.PROCESSING,
            worker_id=self.worker_id,
            attempts=self.attempt,
        )

    def beat(self, *, force: bool = False) -> None:
        """Refresh heartbeat_at (at most every heartbeat_interval); raise LostClaim if not ours."""
        now = time.monotonic()
        if not force and now - self.last_beat < heartbeat_interval():
            return
        with progress_transaction():
            beaten = self.owned().update(heartbeat_at=timezone.now())
        if beaten != 1:
            raise LostClaim(str(self.deployment_id))
        self.last_beat = now


# --- claiming -----------------------------------------------------------------------------------


def _claim(
    *, deployment_id=None, worker_id: str | None = None, now: datetime | None = None
) -> Claim | None:
    worker_id = worker_id or new_worker_id()
    now = now or timezone.now()
    with progress_transaction():
        candidates = Deployment.all_orgs.filter(status=DeploymentStatus.QUEUED)
        if deployment_id is not None:
            candidates = candidates.filter(id=deployment_id)
        candidates = candidates.exclude(not_before__gt=now).order_by("queued_at", "id")
        if connection.vendor == "postgresql":
            # Skip rows another worker is claiming right now instead of queueing behind its lock.
            candidates = candidates.select_for_update(skip_locked=True, of=("self",))
        row = candidates.only("id", "attempts", "agent_app_id").first()
        if row is None:
            return None
        attempt = row.attempts + 1
        won = Deployment.all_orgs.filter(
            id=row.id, status=DeploymentStatus.QUEUED, attempts=row.attempts
        ).update(
            status=DeploymentStatus.PROCESSING,
            worker_id=worker_id,
            attempts=attempt,
            heartbeat_at=now,
            started_at=Coalesce(F("started_at"), Value(now)),
            not_before=None,
        )
        if won != 1:
            return None
        if attempt == 1:
            webhook_event_emit(
                deployment=lambda: Deployment.all_orgs.select_related("package").get(id=row.id),
                event=WebhookEvent.PROCESSING,
                agent_app_id=row.agent_app_id,
            )
    logger.info("deployment %s processing (attempt %d)", row.id, attempt)
    return Claim(
        deployment_id=row.id, worker_id=worker_id, attempt=attempt, last_beat=time.monotonic()
    )


def deployment_claim_next(*, worker_id: str | None = None) -> Claim | None:
    """Claim the oldest queued deployment; None when the queue is empty."""
    # Another worker may win the compare-and-set on SQLite-like paths; try the next row then.
    for _ in range(5):
        if not Deployment.all_orgs.filter(status=DeploymentStatus.QUEUED).exists():
            return None
        claim = _claim(worker_id=worker_id)
        if claim is not None:
            return claim
    return None


def deployment_claim(*, deployment_id, worker_id: str | None = None) -> Claim | None:
    """Claim one given deployment if it is queued (a task's nudge); None otherwise."""
    return _claim(deployment_id=deployment_id, worker_id=worker_id)


# --- running ------------------------------------------------------------------------------------


def _transition(
    claim: Claim,
    *,
    done: DeploymentStep | None = None,
    done_status: str = StepStatus.COMPLETED,
    next_step: DeploymentStep | None = None,
) -> None:
    """Finish ``done`` and start ``next_step`` in one fenced UPDATE (one round trip, one commit).

    The ``deployment IN (owned)`` condition is the fence: if the job was taken up by another worker,
    nothing is updated and LostClaim is raised. Progress writes are fenced this way rather than under
    the deployment's row lock because they are bookkeeping (a recovered job re-runs its unfinished
    step, and steps are idempotent); terminal transitions lock the row (``_finalize``,
    ``deployment_fail``).
    """
    now = timezone.now()
    steps = [s for s in (done, next_step) if s is not None]
    pk = DeploymentStep._meta.pk
    prep = lambda value: pk.get_db_prep_value(value, connection)  # noqa: E731 (uuid as the backend stores it)
    done_id = prep(done.id) if done is not None else None
    stamp = DeploymentStep._meta.get_field("updated_at").get_db_prep_value(now, connection)
    placeholders = ", ".join(["%s"] * len(steps))
    # Hand-written SQL on purpose: this runs at every step boundary of every job, and building the
    # equivalent ORM CASE expression cost more CPU than the rest of a step (see
    # benchmarks/deploy_throughput.py). The subquery on the deployment row is the fence.
    sql = f"""
        UPDATE deployments_deploymentstep SET
            status = CASE WHEN id = %s THEN %s ELSE %s END,
            started_at = CASE WHEN id = %s THEN started_at ELSE %s END,
            completed_at = CASE WHEN id = %s THEN %s ELSE NULL END,
            error = CASE WHEN id = %s THEN error ELSE NULL END,
            updated_at = %s
        WHERE id IN ({placeholders}) AND deployment_id IN (
            SELECT id FROM deployments_deployment
            WHERE id = %s AND status = %s AND worker_id = %s AND attempts = %s
        )
    """
    params = [
        done_id, done_status, StepStatus.PROCESSING,
        done_id, stamp,
        done_id, stamp,
        done_id,
        stamp,
        *[prep(s.id) for s in steps],
        prep(claim.deployment_id), DeploymentStatus.PROCESSING, claim.worker_id, claim.attempt,
    ]  # fmt: skip
    with progress_transaction(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        updated = cursor.rowcount
    if updated != len(steps):
        raise LostClaim(str(claim.deployment_id))
    if done is not None:
        done.status, done.completed_at = done_status, now
    if next_step is not None:
        next_step.status, next_step.started_at, next_step.completed_at, next_step.error = (
            StepStatus.PROCESSING,
            now,
            None,
            None,
        )
    claim.beat()  # throttled: a query at most every heartbeat_interval


def _load(deployment_id) -> Deployment:
    return Deployment.all_orgs.select_related("package", "agent_app", "organization").get(
        id=deployment_id
    )


def deployment_run(claim: Claim, *, sleep=time.sleep) -> Deployment:
    """Run the claimed job's unfinished steps in order; always leaves the row consistent."""
    try:
        deployment = _load(claim.deployment_id)
        steps = list(DeploymentStep.objects.filter(deployment=deployment).order_by("position"))
        ctx = pipeline.StepContext(deployment=deployment, heartbeat=claim.beat, sleep=sleep)
        todo = [s for s in steps if s.status not in (StepStatus.COMPLETED, StepStatus.SKIPPED)]
        if todo:
            _transition(claim, next_step=todo[0])
        for index, step in enumerate(todo):
            try:
                if step.name == "finalize":
                    _finalize(claim, ctx, step)
                    break
                outcome = pipeline.STEPS[step.name](ctx)
            except pipeline.StepFailed as exc:
                deployment_fail(
                    deployment_id=claim.deployment_id,
                    error=str(exc),
                    step_name=step.name,
                    claim=claim,
                )
                break
            except pipeline.StepTransientError as exc:
                _release(claim, step, str(exc))
                break
            status = StepStatus.SKIPPED if outcome == StepStatus.SKIPPED else StepStatus.COMPLETED
            following = todo[index + 1] if index + 1 < len(todo) else None
            _transition(claim, done=step, done_status=status, next_step=following)
    except LostClaim:
        logger.warning(
            "deployment %s: claim %s lost; another worker owns it now",
            claim.deployment_id,
            claim.worker_id,
        )
    except (
        Exception
    ) as exc:  # a bug must still end the job: fail and refund, never leave it processing
        logger.exception("deployment %s crashed", claim.deployment_id)
        try:
            deployment_fail(
                deployment_id=claim.deployment_id,
                error=f"Internal error: {type(exc).__name__}",
                step_name=_processing_step_name(claim.deployment_id),
                claim=claim,
            )
        except LostClaim:
            pass
    return Deployment.all_orgs.only(
        "id", "status", "organization_id", "agent_app_id", "package_id"
    ).get(id=claim.deployment_id)


def _processing_step_name(deployment_id) -> str | None:
    step = DeploymentStep.objects.filter(
        deployment_id=deployment_id, status=StepStatus.PROCESSING
    ).first()
    return step.name if step else None


def _finalize(claim: Claim, ctx: pipeline.StepContext, step: DeploymentStep) -> None:
    now = timezone.now()
    # A progress transaction too: the charge was committed durably at acceptance, and if a database
    # crash lost this commit the job would simply be back at its finalize step, which recovery
    # re-runs as a whole. Not waiting for the flush here matters because every finalize of one app
    # locks the app row (current_package) until it commits.
    with progress_transaction():
        # Lock the row so completion and a concurrent recovery/cancel cannot interleave.
        locked = (
            Deployment.all_orgs.select_for_update()
            .filter(
                id=claim.deployment_id,
                status=DeploymentStatus.PROCESSING,
                worker_id=claim.worker_id,
                attempts=claim.attempt,
            )
            .first()
        )
        if locked is None:
            raise LostClaim(str(claim.deployment_id))
        pipeline.finalize(ctx)
        step.status, step.completed_at = StepStatus.COMPLETED, now
        step.save(update_fields=["status", "completed_at", "updated_at"])
        Deployment.all_orgs.filter(id=claim.deployment_id).update(
            status=DeploymentStatus.COMPLETED, completed_at=now, heartbeat_at=now, error=None
        )
        deployment = ctx.deployment
        deployment.status, deployment.completed_at, deployment.error = (
            DeploymentStatus.COMPLETED,
            now,
            None,
        )
        webhook_event_emit(deployment=deployment, event=WebhookEvent.COMPLETED)
    logger.info("deployment %s completed", claim.deployment_id)


def _release(claim: Claim, step: DeploymentStep, error: str) -> None:
    """Give a job back to the queue after a transient error, or fail it when out of attempts."""
    if claim.attempt >= settings.PIXELL_DEPLOYMENT_MAX_ATTEMPTS:
        deployment_fail(
            deployment_id=claim.deployment_id, error=error, step_name=step.name, claim=claim
        )
        return
    delay = TRANSIENT_RETRY_BASE_SECONDS * claim.attempt
    with transaction.atomic():
        released = claim.owned().update(
            status=DeploymentStatus.QUEUED,
            worker_id="",
            heartbeat_at=None,
            not_before=timezone.now() + timedelta(seconds=delay),
        )
        if released != 1:
            raise LostClaim(str(claim.deployment_id))
        step.status, step.error, step.completed_at = (
            StepStatus.PENDING,
            f"Will retry: {error}",
            None,
        )
        step.save(update_fields=["status", "error", "completed_at", "updated_at"])
        deployment_id = claim.deployment_id
        transaction.on_commit(lambda: _nudge(deployment_id, countdown=delay), robust=True)
    logger.warning("deployment %s released for retry in %ss: %s", claim.deployment_id, delay, error)


# The Celery task is defined beside the queue it drives, not in tasks.py: the queue nudges it and it
# runs the queue, one loop that one module holds, so neither module imports the other. Its name is
# the one tasks.py (which re-exports it) would give, so messages, metrics and alerts are unchanged.
@shared_task(name="deployments.tasks.deployment_process_task", ignore_result=True)
def deployment_process_task(deployment_id: str) -> None:
    """Run one deployment if it is still queued; nothing for a row that is gone or finished."""
    deployment_process(deployment_id=deployment_id)


def _nudge(deployment_id, *, countdown: float | None = None) -> None:
    if countdown:
        deployment_process_task.apply_async(args=[str(deployment_id)], countdown=countdown)
    else:
        deployment_process_task.delay(str(deployment_id))


def nudge_on_commit(deployment_id) -> None:
    # robust: a broker hiccup must not undo a committed deploy; beat's sweep finds the row anyway.
    transaction.on_commit(lambda: _nudge(deployment_id), robust=True)


# --- terminal transitions ---------------------------------------------------------------------


def _refund(deployment: Deployment, *, description: str) -> None:
    credits_apply(
        organization=deployment.organization,
        amount=deployment.cost,
        type=TransactionType.REFUND,
        description=description,
        reference=refund_reference(deployment.id),
        metadata={"deployment_id": str(deployment.id)},
    )


def _release_package(deployment: Deployment) -> None:
    # A failed package's version is free again (docs/CONTRACT.md §4); a package some other path already
    # made ready (it cannot be this deployment's, which never finalized) is left alone.
    Package.all_orgs.filter(id=deployment.package_id, status=PackageStatus.UPLOADING).update(
        status=PackageStatus.FAILED
    )


def deployment_fail(
    *,
    deployment_id,
    error: str,
    step_name: str | None = None,
    claim: Claim | None = None,
    stale_before: datetime | None = None,
) -> bool:
    """Fail a non-terminal deployment: step error, refund (once), package failed, webhook.

    With a ``claim`` only its owner may fail it (raises LostClaim otherwise); with
    ``stale_before`` (stuck-job recovery) only while its last heartbeat is older than that — a
    worker that beat again after the sweep read the row keeps its job. Returns False when the
    deployment was already terminal.
    """
    now = timezone.now()
    with transaction.atomic():
        # Row lock first (then the organization's inside credits_apply): the same order every
        # terminal path takes, so concurrent paths cannot deadlock.
        deployment = (
            Deployment.all_orgs.select_for_update()
            .select_related("organization", "agent_app", "package")
            .get(id=deployment_id)
        )
        if deployment.status in TERMINAL_STATUSES:
            return False
        if claim is not None and (
            deployment.status != DeploymentStatus.PROCESSING
            or deployment.worker_id != claim.worker_id
            or deployment.attempts != claim.attempt
        ):
            raise LostClaim(str(deployment_id))
        if (
            stale_before is not None
            and deployment.heartbeat_at is not None
            and deployment.heartbeat_at >= stale_before
        ):
            raise LostClaim(str(deployment_id))
        error = error[:2000]
        if step_name:
            DeploymentStep.objects.filter(deployment=deployment, name=step_name).update(
                status=StepStatus.FAILED, error=error, completed_at=now
            )
        Deployment.all_orgs.filter(id=deployment.id).update(
            status=DeploymentStatus.FAILED,
            error=error,
            completed_at=now,
            worker_id="",
            heartbeat_at=now,
        )
        deployment.status, deployment.error, deployment.completed_at = (
            DeploymentStatus.FAILED,
            error,
            now,
        )
        _release_package(deployment)
        _refund(
            deployment,
            description=f"Refund: deployment of {deployment.agent_app.name} v{deployment.version} failed",
        )
        webhook_event_emit(deployment=deployment, event=WebhookEvent.FAILED)
    logger.info("deployment %s failed: %s", deployment_id, error)
    return True


def deployment_cancel_queued(*, deployment_id) -> bool:
    """queued → cancelled with its refund; False if it is no longer queued."""
    now = timezone.now()
    with transaction.atomic():
        deployment = (
            Deployment.all_orgs.select_for_update()
            .select_related("organization", "agent_app")
            .get(id=deployment_id)
        )
        # The compare-and-set (besides the lock) is what a claimer racing us on SQLite sees.
        if (
            Deployment.all_orgs.filter(id=deployment.id, status=DeploymentStatus.QUEUED).update(
                status=DeploymentStatus.CANCELLED, completed_at=now
            )
            != 1
        ):
            return False
        _release_package(deployment)
        _refund(
            deployment,
            description=f"Refund: deployment of {deployment.agent_app.name} v{deployment.version} cancelled",
        )
    logger.info("deployment %s cancelled", deployment_id)
    return True


# --- recovery and the processing loop ----------------------------------------------------------


def deployments_recover_stuck(*, now: datetime | None = None) -> dict:
    """Jobs left processing past the heartbeat timeout: requeue (attempts left) or fail + refund."""
    now = now or timezone.now()
    requeued = failed = 0
    stuck = Deployment.all_orgs.filter(
        status=DeploymentStatus.PROCESSING, heartbeat_at__lt=stuck_cutoff(now)
    )
    for row in stuck.only("id", "attempts", "worker_id", "heartbeat_at"):
        if row.attempts < settings.PIXELL_DEPLOYMENT_MAX_ATTEMPTS:
            with transaction.atomic():
                # Conditional on what we read: a worker that just beat, or another recoverer, wins.
                taken = Deployment.all_orgs.filter(
                    id=row.id,
                    status=DeploymentStatus.PROCESSING,
                    worker_id=row.worker_id,
                    attempts=row.attempts,
                    heartbeat_at=row.heartbeat_at,
                ).update(status=DeploymentStatus.QUEUED, worker_id="", heartbeat_at=None)
                if taken:
                    DeploymentStep.objects.filter(
                        deployment_id=row.id, status=StepStatus.PROCESSING
                    ).update(status=StepStatus.PENDING, error="Worker lost; retrying")
                    nudge_on_commit(row.id)
                    requeued += 1
        else:
            claim = Claim(deployment_id=row.id, worker_id=row.worker_id, attempt=row.attempts)
            try:
                if deployment_fail(
                    deployment_id=row.id,
                    error=f"Worker stopped responding (no heartbeat for {settings.PIXELL_DEPLOYMENT_HEARTBEAT_TIMEOUT_SECONDS} s) "
                    f"after {row.attempts} attempt(s)",
                    step_name=_processing_step_name(row.id),
                    claim=claim,
                    stale_before=stuck_cutoff(now),
                ):
                    failed += 1
            except LostClaim:
                pass
    if requeued or failed:
        logger.warning("recovered stuck deployments: %d requeued, %d failed", requeued, failed)
    return {"requeued": requeued, "failed": failed}


@dataclass(frozen=True)
class ProcessResult:
    deployment: Deployment
    duration_seconds: float


def deployment_process_next(*, worker_id: str | None = None) -> ProcessResult | None:
    """Claim and run the oldest queued deployment (the cron endpoint and beat's sweep)."""
    started = time.monotonic()
    claim = deployment_claim_next(worker_id=worker_id)
    if claim is None:
        return None
    deployment = deployment_run(claim)
    return ProcessResult(deployment=deployment, duration_seconds=time.monotonic() - started)


def deployment_process(*, deployment_id, worker_id: str | None = None) -> ProcessResult | None:
    """Run one given deployment if it is still queued; a no-op for a gone or finished row."""
    started = time.monotonic()
    claim = deployment_claim(deployment_id=deployment_id, worker_id=worker_id)
    if claim is None:
        return None
    deployment = deployment_run(claim)
    return ProcessResult(deployment=deployment, duration_seconds=time.monotonic() - started)


def deployments_sweep(*, max_jobs: int = 50, time_budget_seconds: float = 30.0) -> dict:
    """Beat's job: recover stuck jobs, then drain queued ones within a budget."""
    recovered = deployments_recover_stuck()
    processed = 0
    deadline = time.monotonic() + time_budget_seconds
    while processed < max_jobs and time.monotonic() < deadline:
        if deployment_process_next() is None:
            break
        processed += 1
    return {**recovered, "processed": processed}
