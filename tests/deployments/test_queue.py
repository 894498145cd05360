"""The deployments table as the queue: claims, heartbeats, recovery, tasks, cron and stats."""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import CreditTransaction
from deployments import queue
from deployments.models import Deployment, DeploymentStatus, DeploymentStep, StepStatus
from deployments.tasks import deployment_process_task, deployments_sweep_task
from tests.deployments.conftest import deploy

pytestmark = pytest.mark.django_db


def accept(client, app, version="1.0.0") -> Deployment:
    response = deploy(client, app, version)
    assert response.status_code == 202, response.json()
    return Deployment.all_orgs.get(id=response.json()["deployment"]["id"])


def fresh(deployment) -> Deployment:
    return Deployment.all_orgs.get(id=deployment.id)


def test_a_job_is_claimed_once(owner_client, app):
    deployment = accept(owner_client, app)
    first = queue.deployment_claim(deployment_id=deployment.id, worker_id="w1")
    second = queue.deployment_claim(deployment_id=deployment.id, worker_id="w2")
    assert first is not None and first.attempt == 1
    assert second is None
    row = fresh(deployment)
    assert row.status == DeploymentStatus.PROCESSING and row.worker_id == "w1"
    assert row.started_at and row.heartbeat_at


def test_claim_next_takes_the_oldest_queued(owner_client, app):
    first = accept(owner_client, app, "1.0.0")
    accept(owner_client, app, "1.0.1")
    claim = queue.deployment_claim_next(worker_id="w")
    assert claim.deployment_id == first.id


def test_the_task_is_a_nudge_that_ignores_gone_and_finished_rows(owner_client, app, org):
    deployment = accept(owner_client, app)
    deployment_process_task(str(deployment.id))
    assert fresh(deployment).status == "completed"
    deployment_process_task(str(deployment.id))  # finished: nothing happens
    deployment_process_task("00000000-0000-0000-0000-000000000000")  # gone: nothing happens
    assert fresh(deployment).attempts == 1
    assert CreditTransaction.objects.for_org(org).filter(type="usage").count() == 1


def test_heartbeat_is_refreshed_and_a_lost_claim_is_noticed(owner_client, app):
    deployment = accept(owner_client, app)
    claim = queue.deployment_claim(deployment_id=deployment.id, worker_id="w1")
    Deployment.all_orgs.filter(id=deployment.id).update(
        heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    claim.beat(force=True)
    assert fresh(deployment).heartbeat_at > timezone.now() - timedelta(seconds=5)
    # Another worker took it up (recovery): our next write raises.
    Deployment.all_orgs.filter(id=deployment.id).update(worker_id="w2", attempts=2)
    with pytest.raises(queue.LostClaim):
        claim.beat(force=True)


def _abandon(deployment, *, worker="dead-worker", step="upload_to_s3", attempts=1):
    """Make the row look like a worker died while running ``step``."""
    Deployment.all_orgs.filter(id=deployment.id).update(
        status=DeploymentStatus.PROCESSING,
        worker_id=worker,
        attempts=attempts,
        started_at=timezone.now() - timedelta(hours=1),
        heartbeat_at=timezone.now() - timedelta(hours=1),
    )
    DeploymentStep.objects.filter(deployment=deployment, name="validate_package").update(
        status=StepStatus.COMPLETED
    )
    DeploymentStep.objects.filter(deployment=deployment, name=step).update(
        status=StepStatus.PROCESSING, started_at=timezone.now()
    )


def test_a_stuck_job_is_requeued_and_then_completes_charged_once(owner_client, app, org):
    deployment = accept(owner_client, app)
    _abandon(deployment)
    assert queue.deployments_recover_stuck() == {"requeued": 1, "failed": 0}
    row = fresh(deployment)
    assert row.status == DeploymentStatus.QUEUED and row.worker_id == ""
    assert (
        DeploymentStep.objects.get(deployment=deployment, name="upload_to_s3").status
        == StepStatus.PENDING
    )

    queue.deployment_process(deployment_id=deployment.id)
    row = fresh(deployment)
    assert row.status == "completed" and row.attempts == 2
    ledger = CreditTransaction.objects.for_org(org)
    assert ledger.filter(type="usage").count() == 1 and not ledger.filter(type="refund").exists()


def test_a_stuck_job_out_of_attempts_is_failed_and_refunded(owner_client, app, org, settings):
    settings.PIXELL_DEPLOYMENT_MAX_ATTEMPTS = 1
    deployment = accept(owner_client, app)
    _abandon(deployment)
    assert queue.deployments_recover_stuck() == {"requeued": 0, "failed": 1}
    row = fresh(deployment)
    assert row.status == "failed" and "stopped responding" in row.error
    assert (
        DeploymentStep.objects.get(deployment=deployment, name="upload_to_s3").status
        == StepStatus.FAILED
    )
    assert CreditTransaction.objects.for_org(org).filter(type="refund").count() == 1
    assert queue.deployments_recover_stuck() == {"requeued": 0, "failed": 0}


def test_a_worker_that_beats_after_the_sweep_read_its_row_keeps_its_job(
    owner_client, app, org, settings, monkeypatch
):
    settings.PIXELL_DEPLOYMENT_MAX_ATTEMPTS = 1
    deployment = accept(owner_client, app)
    _abandon(deployment)
    original = queue.deployment_fail

    def worker_beats_first(**kwargs):
        # Between the sweep's read and its locked write, the worker comes back and beats.
        Deployment.all_orgs.filter(id=deployment.id).update(heartbeat_at=timezone.now())
        return original(**kwargs)

    monkeypatch.setattr(queue, "deployment_fail", worker_beats_first)
    assert queue.deployments_recover_stuck() == {"requeued": 0, "failed": 0}
    assert fresh(deployment).status == DeploymentStatus.PROCESSING
    assert not CreditTransaction.objects.for_org(org).filter(type="refund").exists()


def test_a_live_heartbeat_is_not_recovered(owner_client, app):
    deployment = accept(owner_client, app)
    queue.deployment_claim(deployment_id=deployment.id, worker_id="alive")
    assert queue.deployments_recover_stuck() == {"requeued": 0, "failed": 0}
    assert fresh(deployment).status == "processing"


def test_the_old_worker_cannot_finish_a_job_it_lost(owner_client, app, org):
    deployment = accept(owner_client, app)
    old = queue.deployment_claim(deployment_id=deployment.id, worker_id="old")
    Deployment.all_orgs.filter(id=deployment.id).update(
        heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    queue.deployments_recover_stuck()
    queue.deployment_process(deployment_id=deployment.id)  # a new worker completes it
    assert fresh(deployment).status == "completed"
    # The old worker wakes up and runs on: every write is fenced, nothing changes.
    queue.deployment_run(old)
    row = fresh(deployment)
    assert row.status == "completed" and row.attempts == 2
    ledger = CreditTransaction.objects.for_org(org)
    assert ledger.filter(type="usage").count() == 1 and not ledger.filter(type="refund").exists()
    from usage.models import UsageEvent

    assert UsageEvent.objects.for_org(org).filter(type="deployment").count() == 1


def test_sweep_recovers_and_drains(owner_client, app):
    stuck = accept(owner_client, app, "1.0.0")
    queued = accept(owner_client, app, "1.0.1")
    _abandon(stuck)
    result = deployments_sweep_task()
    assert result == {"requeued": 1, "failed": 0, "processed": 2}
    assert fresh(stuck).status == fresh(queued).status == "completed"


def test_queue_position_counts_every_organizations_queue(
    owner_client, app, other_client, other_app
):
    a = accept(owner_client, app, "1.0.0")
    accept(other_client, other_app, "1.0.0")
    c = accept(owner_client, app, "1.0.1")
    body = owner_client.get(f"/api/deployments/{c.id}").json()["deployment"]
    assert body["queue_position"] == 3
    queue.deployment_process(deployment_id=a.id)
    assert owner_client.get(f"/api/deployments/{c.id}").json()["deployment"]["queue_position"] == 2
    assert "queue_position" not in owner_client.get(f"/api/deployments/{a.id}").json()["deployment"]


# --- cron endpoint -----------------------------------------------------------------------------


CRON = "/api/cron/process-deployments"


def test_cron_refuses_everyone_when_no_secret_is_configured(anon_client, settings):
    settings.CRON_SECRET = None
    assert anon_client.post(CRON).status_code == 401
    assert anon_client.post(CRON, HTTP_X_CRON_SECRET="").status_code == 401
    assert anon_client.post(CRON, HTTP_X_CRON_SECRET="anything").status_code == 401


def test_cron_refuses_a_wrong_secret(anon_client, settings):
    settings.CRON_SECRET = "right-secret"
    response = anon_client.post(CRON, HTTP_X_CRON_SECRET="wrong")
    assert response.status_code == 401
    assert response.json()["code"] == "AUTHENTICATION_FAILED"


def test_cron_processes_one_job_in_the_seed_shape(anon_client, owner_client, app, settings):
    settings.CRON_SECRET = "right-secret"
    deployment = accept(owner_client, app)
    response = anon_client.post(CRON, HTTP_X_CRON_SECRET="right-secret")
    assert response.status_code == 200
    body = response.json()
    assert body["processed"] is True
    assert body["jobId"] == str(deployment.id)
    assert body["status"] == "completed"
    assert isinstance(body["duration"], (int, float))

    empty = anon_client.post(CRON, HTTP_X_CRON_SECRET="right-secret").json()
    assert empty == {"processed": False, "message": "No jobs to process"}


# --- queue stats -----------------------------------------------------------------------------------


STATS = "/api/deployments/queue/stats"


def test_stats_need_no_authentication_and_have_the_seed_shape(anon_client, owner_client, app):
    done = accept(owner_client, app, "1.0.0")
    queue.deployment_process(deployment_id=done.id)
    accept(owner_client, app, "1.0.1")
    body = anon_client.get(STATS).json()
    assert body["stats"] == {
        "queued": 1,
        "processing": 0,
        "completed": 1,
        "failed": 0,
        "cancelled": 0,
        "total": 2,
    }
    assert body["health"] == {"status": "healthy", "message": "Queue is operating normally"}
    assert body["metrics"]["avgProcessingTimeSeconds"] >= 0
    assert body["metrics"]["lastUpdated"].endswith("Z")


def _clone(deployment, count, **fields):
    rows = [
        Deployment(
            organization_id=deployment.organization_id,
            agent_app_id=deployment.agent_app_id,
            package_id=deployment.package_id,
            version=deployment.version,
            cost=1,
            queued_at=timezone.now(),
            **fields,
        )
        for _ in range(count)
    ]
    Deployment.all_orgs.bulk_create(rows)


def test_stats_warn_on_queue_depth(anon_client, owner_client, app):
    _clone(accept(owner_client, app), 50)  # 51 queued
    health = anon_client.get(STATS).json()["health"]
    assert health["status"] == "warning" and "queue depth" in health["message"]


def test_stats_warn_on_failure_rate(anon_client, owner_client, app):
    base = accept(owner_client, app)
    now = timezone.now()
    _clone(base, 3, status="completed", started_at=now, completed_at=now)
    _clone(base, 2, status="failed", started_at=now, completed_at=now)
    health = anon_client.get(STATS).json()["health"]
    assert health["status"] == "warning" and "failure rate" in health["message"]


def test_stats_are_critical_with_a_stuck_job(anon_client, owner_client, app):
    _abandon(accept(owner_client, app))
    body = anon_client.get(STATS).json()
    assert body["health"]["status"] == "critical"
    assert body["metrics"]["stuck"] == 1
