"""Benchmark: deployments drained end to end on PostgreSQL + Redis by one Celery worker and by two.

    .venv/bin/python benchmarks/deploy_throughput.py [--jobs 200] [--accept-runs 21]

1. Throughput (issue 4, "Performance"): ``--jobs`` small deployments are accepted through the deploy
   service (reservation, package, queued job — their nudges held back), then N ``celery -A pixell
   worker --concurrency=1`` subprocesses are started and, once they are ready, one nudge per job is
   sent through Redis. The clock runs from the first nudge until every job is terminal, so worker
   start-up is not counted. Prints deployments/s for one worker and for two, and the speed-up
   (goal ≥ 1.7×: the pipeline is per-job work on separate connections, claims never block each
   other thanks to SKIP LOCKED).
2. Acceptance latency: the median of ``--accept-runs`` POST /api/agent-apps/:id/packages/deploy of a
   1 MiB package (API key, multipart, as the Kit sends it) to gunicorn, no worker running.

Own PostgreSQL database ``pixell_bench_deploy`` and Redis DBs 10 (cache) and 11 (broker). Exit status 1
when the speed-up goal is missed.
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import (
    ROOT,
    Server,
    bench_environment,
    create_database,
    drop_database,
    flush_redis,
    setup_django,
)

MiB = 1024 * 1024
SPEEDUP_GOAL = 1.7
MANIFEST = """version: "1.0"
name: bench-agent
display_name: Bench Agent
description: Benchmark package
author: Pixell
license: MIT
entrypoint: src.main:handler
runtime: python3.11
metadata:
  version: {version}
"""


def package(version: str, pad: int = 0) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("agent.yaml", MANIFEST.format(version=version))
        zf.writestr(".env", "LOG_LEVEL=info\n")
        zf.writestr("src/__init__.py", "")
        zf.writestr("src/main.py", "def handler(context):\n    return {'ok': True}\n")
        if pad:
            zf.writestr(
                zipfile.ZipInfo("assets/blob.bin"),
                os.urandom(pad),
                compress_type=zipfile.ZIP_STORED,
            )
    return buffer.getvalue()


class Workers:
    """``count`` celery worker subprocesses (concurrency 1 each), stopped with their process groups."""

    def __init__(self, env: dict[str, str], count: int):
        self.env = env
        self.count = count
        self.processes: list[subprocess.Popen] = []
        self.logs: list[Path] = []

    def __enter__(self) -> Workers:
        for index in range(self.count):
            log = Path(tempfile.mkstemp(prefix=f"pixell-bench-worker{index}-", suffix=".log")[1])
            command = [
                sys.executable, "-m", "celery", "-A", "pixell", "worker", "--pool=solo", "--loglevel=INFO",
                "-n", f"bench{index}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
            ]  # fmt: skip
            self.processes.append(
                subprocess.Popen(
                    command,
                    cwd=ROOT,
                    env={**os.environ, **self.env},
                    stdin=subprocess.DEVNULL,
                    stdout=log.open("wb"),
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
            self.logs.append(log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if all(" ready." in log.read_text(errors="replace") for log in self.logs):
                return self
            if any(p.poll() is not None for p in self.processes):
                break
            time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(
            "workers did not start:\n" + "\n".join(log.read_text()[-2000:] for log in self.logs)
        )

    def __exit__(self, *exc) -> None:
        for process in self.processes:
            for sig, grace in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
                try:
                    os.killpg(process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    process.wait(timeout=grace)
                    break
                except subprocess.TimeoutExpired:
                    continue


def _cpu_seconds(pids) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def accept_jobs(org, app, owner, prefix: str, jobs: int) -> list[str]:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from deployments import queue, services

    held = queue._nudge
    queue._nudge = (
        lambda deployment_id, countdown=None: None
    )  # the round's clock starts with the nudges
    try:
        ids = []
        for n in range(jobs):
            version = f"{prefix}.0.{n}"
            upload = SimpleUploadedFile(
                "agent.apkg", package(version), content_type="application/octet-stream"
            )
            result = services.deployment_create(
                organization=org, agent_app=app, actor=owner, upload=upload, version=version
            )
            ids.append(str(result.deployment.id))
        return ids
    finally:
        queue._nudge = held


def drain(env, org, app, owner, *, workers: int, jobs: int, prefix: str) -> float:
    from deployments.models import Deployment
    from deployments.tasks import deployment_process_task

    ids = accept_jobs(org, app, owner, prefix, jobs)
    terminal = ("completed", "failed", "cancelled")
    resent = 0
    with Workers(env, workers) as pool:
        worker_pids = [p.pid for p in pool.processes]
        cpu_before = _cpu_seconds(worker_pids), _cpu_seconds(_postgres_pids()), os.getloadavg()[0]
        started = time.monotonic()
        for deployment_id in ids:
            deployment_process_task.delay(deployment_id)
        remaining, progressed_at = len(ids), time.monotonic()
        while (
            remaining := Deployment.all_orgs.filter(id__in=ids).exclude(status__in=terminal).count()
        ):
            now = time.monotonic()
            if now - started > 600:
                raise RuntimeError("jobs did not drain within 10 minutes")
            if remaining != getattr(drain, "_last", None):
                drain._last, progressed_at = remaining, now
            elif now - progressed_at > 5:
                # Nothing moved for 5 s: nudges were lost. The product's beat sweep would pick the
                # rows up; without beat here, nudge the still-queued rows again (a no-op for others).
                stuck = list(
                    Deployment.all_orgs.filter(id__in=ids, status="queued").values_list(
                        "id", flat=True
                    )
                )
                for deployment_id in stuck:
                    deployment_process_task.delay(str(deployment_id))
                resent += len(stuck)
                progressed_at = now
            # Fine polling: a drain takes a few seconds, so a 0.1 s step would blur the figure by ~3%.
            time.sleep(0.02)
        elapsed = time.monotonic() - started
        drain.cpu = (
            (_cpu_seconds(worker_pids) - cpu_before[0]) / len(ids) * 1000,
            (_cpu_seconds(_postgres_pids()) - cpu_before[1]) / len(ids) * 1000,
            os.getloadavg()[0],
        )
    if resent:
        print(
            f"  note: {resent} nudges re-sent after 5 s without progress (lost messages)",
            flush=True,
        )
    counts = {s: Deployment.all_orgs.filter(id__in=ids, status=s).count() for s in terminal}
    once = Deployment.all_orgs.filter(id__in=ids, attempts=1).count()
    if counts["completed"] != jobs or once != jobs:
        raise RuntimeError(f"not every job completed exactly once: {counts}, attempts==1: {once}")
    return jobs / elapsed


def accept_latency(env, app, raw_key: str, runs: int) -> float:
    import requests

    data = {f"9.0.{n}": package(f"9.0.{n}", pad=MiB - 1024) for n in range(runs)}
    assert all(len(d) <= MiB for d in data.values())
    headers = {"Authorization": f"Bearer {raw_key}"}
    timings = []
    with Server(env, workers=2) as server, requests.Session() as session:
        url = f"{server.url}/api/agent-apps/{app.id}/packages/deploy"
        warm = session.post(
            url,
            headers=headers,
            data={"version": "8.0.0"},
            files={"file": ("agent.apkg", package("8.0.0"))},
            timeout=60,
        )
        assert warm.status_code == 202, warm.text
        for version, body in data.items():
            started = time.perf_counter()
            response = session.post(
                url,
                headers=headers,
                data={"version": version},
                files={"file": ("agent.apkg", body, "application/octet-stream")},
                timeout=60,
            )
            timings.append(time.perf_counter() - started)
            assert response.status_code == 202, response.text
    return statistics.median(timings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--accept-runs", type=int, default=21)
    parser.add_argument(
        "--rounds", type=int, default=2,
        help="alternate 1-worker and 2-worker rounds this many times; the best of each is reported "
        "(the least disturbed by other load on a shared machine)",
    )  # fmt: skip
    args = parser.parse_args()

    env = bench_environment("deploy", redis_db=10)
    create_database(env)
    flush_redis(env)
    try:
        setup_django(env)
        from accounts.models import User
        from agentapps.services import agent_app_create
        from organizations.services import api_key_create, organization_create

        owner = User.objects.create_user(email="bench@example.com", password="bench-password-123")
        org = organization_create(
            name="Bench",
            owner=owner,
            signup_credits=2 * args.rounds * args.jobs + 10 * args.accept_runs + 100,
        )
        app = agent_app_create(organization=org, actor=owner, name="bench-app")
        _, raw_key = api_key_create(organization=org, name="bench")

        ones, twos = [], []
        for round_ in range(args.rounds):
            ones.append(drain(env, org, app, owner, workers=1, jobs=args.jobs, prefix=f"1{round_}"))
            twos.append(drain(env, org, app, owner, workers=2, jobs=args.jobs, prefix=f"2{round_}"))
            print(
                f"round {round_ + 1}: 1 worker {ones[-1]:.1f}/s, 2 workers {twos[-1]:.1f}/s "
                f"(CPU per job: workers {drain.cpu[0]:.1f} ms, PostgreSQL {drain.cpu[1]:.1f} ms; load average {drain.cpu[2]:.1f})",
                flush=True,
            )
        one, two = max(ones), max(twos)
        flush_redis(env)
        latency = accept_latency(env, app, raw_key, args.accept_runs)
    finally:
        drop_database(env)
        flush_redis(env)

    speedup = two / one
    print(
        f"deployments drained end to end ({args.jobs} jobs, PostgreSQL + Redis, {os.cpu_count()} CPUs, best of {args.rounds}):"
    )
    print(f"  1 worker : {one:7.1f} deployments/s")
    print(f"  2 workers: {two:7.1f} deployments/s")
    print(f"  speed-up : {speedup:7.2f}x (goal >= {SPEEDUP_GOAL}x)")
    print(f"accepting a 1 MiB deploy (median of {args.accept_runs}): {latency * 1000:.1f} ms")
    return 0 if speedup >= SPEEDUP_GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
