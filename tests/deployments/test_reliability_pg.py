"""Reliability on PostgreSQL (the production database): concurrent reservations, racing workers, a
worker killed with SIGKILL in the middle of a step. Real commits and real connections per thread
(``transaction=True``), so the locks under test are really taken."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from django.db import connection, connections
from django.db.models import Sum

from agentapps.models import Package
from billing.models import CreditTransaction
from billing.services import credits_apply
from deployments import pipeline, queue
from deployments.models import Deployment, DeploymentStatus
from organizations.models import Organization
from tests.conftest import client_for
from tests.deployments.conftest import apkg_bytes, deploy, stored_package_files
from usage.models import UsageEvent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (row locks, SKIP LOCKED); set DATABASE_URL=postgres://…")


@pytest.fixture
def no_nudges(monkeypatch):
    # Jobs stay queued: the test decides who processes them.
    monkeypatch.setattr(queue, "_nudge", lambda deployment_id, countdown=None: None)


def set_balance(org, target: int) -> None:
    org.refresh_from_db()
    credits_apply(
        organization=org, amount=target - org.credits, type="adjustment", description="test balance"
    )


def ledger_is_consistent(org) -> bool:
    org.refresh_from_db()
    total = CreditTransaction.objects.for_org(org).aggregate(total=Sum("amount"))["total"] or 0
    return total == org.credits


def in_threads(count: int, target) -> list:
    results: list = [None] * count
    barrier = threading.Barrier(count)

    def run(index):
        try:
            barrier.wait()
            results[index] = target(index)
        except Exception as exc:  # surfaced by the assertions
            results[index] = exc
        finally:
            connections.close_all()  # each thread had its own connection

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_fifty_concurrent_deploys_against_a_balance_for_ten(owner, org, app, settings, no_nudges):
    set_balance(org, 10)
    files_before = stored_package_files(settings)
    packages = [apkg_bytes(f"1.0.{n}") for n in range(50)]

    def one(index):
        return deploy(client_for(owner), app, f"1.0.{index}", data=packages[index]).status_code

    statuses = in_threads(50, one)

    assert sorted(statuses) == [202] * 10 + [402] * 40, statuses
    org.refresh_from_db()
    assert org.credits == 0
    assert ledger_is_consistent(org)
    assert Deployment.objects.for_org(org).count() == 10
    assert Package.objects.for_org(org).count() == 10
    # The 40 refused uploads left no bytes behind.
    assert len(stored_package_files(settings) - files_before) == 10


def test_two_workers_racing_over_twenty_jobs_process_each_once(
    owner, org, app, no_nudges, monkeypatch
):
    client = client_for(owner)
    ids = {deploy(client, app, f"2.0.{n}").json()["deployment"]["id"] for n in range(20)}
    assert len(ids) == 20
    real_metadata = pipeline.STEPS["generate_metadata"]

    def slow_metadata(ctx):
        time.sleep(0.02)  # long enough for the workers to overlap
        return real_metadata(ctx)

    monkeypatch.setitem(pipeline.STEPS, "generate_metadata", slow_metadata)

    def worker(index):
        done = []
        while (result := queue.deployment_process_next(worker_id=f"worker-{index}")) is not None:
            done.append(str(result.deployment.id))
        return done

    first, second = in_threads(2, worker)
    assert not isinstance(first, Exception) and not isinstance(second, Exception)
    assert sorted(first + second) == sorted(ids)  # every job, none twice
    assert first and second  # both workers took part
    rows = Deployment.objects.for_org(org).filter(id__in=ids)
    assert all(r.status == DeploymentStatus.COMPLETED and r.attempts == 1 for r in rows)
    assert UsageEvent.objects.for_org(org).filter(type="deployment").count() == 20
    assert not CreditTransaction.objects.for_org(org).filter(type="refund").exists()
    assert ledger_is_consistent(org)


_KILLED_WORKER = textwrap.dedent(
    """
    import sys, time, django
    django.setup()
    from deployments import pipeline, queue

    marker = sys.argv[2]
    real = pipeline.STEPS["generate_metadata"]

    def blocking(ctx):
        open(marker, "w").close()
        time.sleep(600)  # the test kills us here, mid-step
        return real(ctx)

    pipeline.STEPS["generate_metadata"] = blocking
    queue.deployment_process(deployment_id=sys.argv[1], worker_id="doomed-worker")
    """
)


@pytest.mark.slow
def test_a_worker_killed_mid_step_is_recovered_and_charged_once(
    owner, org, app, settings, tmp_path, no_nudges
):
    response = deploy(client_for(owner), app, "3.0.0")
    assert response.status_code == 202
    deployment_id = response.json()["deployment"]["id"]
    balance_after_reservation = Organization.objects.get(pk=org.pk).credits

    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "MEDIA_ROOT": settings.MEDIA_ROOT,
    }
    marker = tmp_path / "in-step"
    process = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WORKER, deployment_id, str(marker)],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
    )
    try:
        for _ in range(300):
            if marker.exists() or process.poll() is not None:
                break
            time.sleep(0.05)
        assert marker.exists(), "the worker never reached the step"
        row = Deployment.all_orgs.get(id=deployment_id)
        assert row.status == DeploymentStatus.PROCESSING and row.worker_id == "doomed-worker"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()

    settings.PIXELL_DEPLOYMENT_HEARTBEAT_TIMEOUT_SECONDS = 1
    time.sleep(1.2)
    assert queue.deployments_sweep() == {"requeued": 1, "failed": 0, "processed": 1}

    row = Deployment.all_orgs.get(id=deployment_id)
    assert row.status == DeploymentStatus.COMPLETED and row.attempts == 2
    ledger = CreditTransaction.objects.for_org(org)
    assert ledger.filter(reference=f"deployment:{deployment_id}:reserve").count() == 1
    assert not ledger.filter(type="refund").exists()
    assert Organization.objects.get(pk=org.pk).credits == balance_after_reservation
    assert UsageEvent.objects.for_org(org).filter(type="deployment").count() == 1
    assert ledger_is_consistent(org)
