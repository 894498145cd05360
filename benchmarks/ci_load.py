"""CI load (issue 12): N simulated CI pipelines for D seconds against gunicorn (gthread, as the
Procfile) and two Celery workers on PostgreSQL + Redis. Each pipeline loops: deploy a 1 MiB
package, poll the deployment until it ends, list the app's deployments, read the balance.

    .venv/bin/python benchmarks/ci_load.py [--pipelines 50] [--seconds 60]

Own database ``pixell_bench_ciload``, Redis DBs 10-11 (benchmarks/harness.py). Reports throughput,
p50/p99 per endpoint and errors, then checks that every accepted deployment completed and was
charged exactly once and runs ``check_ledger``. Goals: 0 errors, 0 5xx, every accepted deployment
completed and charged once, ledger consistent, p99 of the reads under 100 ms. Exits non-zero when
a goal is missed.
"""

import argparse
import statistics
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.deploy_throughput import MiB, Workers, package
from benchmarks.harness import (
    Server,
    bench_environment,
    create_database,
    drop_database,
    flush_redis,
    setup_django,
)

READ_P99_GOAL_MS = 100
POLL_INTERVAL = 0.5
DRAIN_TIMEOUT = 300


def pipeline(index, *, url, key, app_id, stop_at, record, accepted, payloads):
    import requests

    headers = {"Authorization": f"Bearer {key}"}
    run = 0
    with requests.Session() as session:

        def call(name, method, path, **kwargs):
            started = time.perf_counter()
            try:
                response = session.request(
                    method, url + path, headers=headers, timeout=120, **kwargs
                )
                status = response.status_code
            except requests.RequestException as exc:
                response, status = None, f"error:{type(exc).__name__}"
            record(name, (time.perf_counter() - started) * 1000, status)
            return response

        while time.monotonic() < stop_at:
            run += 1
            version = f"1.{index}.{run}"
            response = call(
                "POST deploy",
                "POST",
                f"/api/agent-apps/{app_id}/packages/deploy",
                data={"version": version},
                files={"file": ("agent.apkg", payloads[run % len(payloads)](version))},
            )
            if response is None or response.status_code != 202:
                continue
            deployment_id = response.json()["deployment"]["id"]
            accepted.append(deployment_id)
            while True:
                polled = call("GET deployment", "GET", f"/api/deployments/{deployment_id}")
                if polled is None or polled.status_code != 200:
                    break
                body = polled.json()
                status = (body.get("deployment") or body).get("status")
                if status in ("completed", "failed", "cancelled"):
                    break
                if time.monotonic() > stop_at + DRAIN_TIMEOUT:
                    break
                time.sleep(POLL_INTERVAL)
            call("GET app deployments", "GET", f"/api/agent-apps/{app_id}/deployments")
            call("GET balance", "GET", "/api/credits/balance")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipelines", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--web-workers", type=int, default=2)
    args = parser.parse_args()

    env = bench_environment("ciload", redis_db=10, PIXELL_METRICS_TOKEN="bench")
    create_database(env)
    flush_redis(env)
    try:
        setup_django(env)
        from accounts.models import User
        from agentapps.services import agent_app_create
        from organizations.services import api_key_create, organization_create

        owner = User.objects.create_user(email="ci@example.com", password="bench-password-123")
        org = organization_create(name="CI load", owner=owner, signup_credits=1_000_000)
        apps = [
            agent_app_create(organization=org, actor=owner, name=f"ci-app-{i}")
            for i in range(args.pipelines)
        ]
        _, key = api_key_create(organization=org, name="ci")
        # A 1 MiB package per version: the padding is built once and reused.
        pad = MiB - 2048

        def payload(version, _pad=pad):
            return package(version, pad=_pad)

        samples = defaultdict(list)
        statuses = defaultdict(lambda: defaultdict(int))
        lock = threading.Lock()

        def record(name, ms, status):
            with lock:
                samples[name].append(ms)
                statuses[name][status] += 1

        accepted: list[str] = []
        with (
            Workers(env, 2),
            Server(env, workers=args.web_workers, worker_class="gthread", threads=4) as server,
        ):
            started = time.monotonic()
            stop_at = started + args.seconds
            threads = [
                threading.Thread(
                    target=pipeline,
                    args=(i,),
                    kwargs={
                        "url": server.url,
                        "key": key,
                        "app_id": str(apps[i].id),
                        "stop_at": stop_at,
                        "record": record,
                        "accepted": accepted,
                        "payloads": [payload],
                    },
                )
                for i in range(args.pipelines)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - started

        from django.core.management import call_command
        from django.db.models import Count

        from billing.models import CreditTransaction, TransactionType
        from deployments.models import Deployment

        total = sum(len(v) for v in samples.values())
        print(
            f"{args.pipelines} pipelines, {elapsed:.0f} s: {total} requests, {total / elapsed:.1f} req/s"
        )
        print(f"{'endpoint':<22} {'n':>6} {'p50 ms':>8} {'p99 ms':>8}  statuses")
        errors = server_errors = 0
        read_p99 = 0.0
        for name, values in sorted(samples.items()):
            values.sort()
            p50 = statistics.median(values)
            p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
            if name.startswith("GET"):
                read_p99 = max(read_p99, p99)
            codes = dict(statuses[name])
            errors += sum(
                n for code, n in codes.items() if not (isinstance(code, int) and code < 400)
            )
            server_errors += sum(
                n for code, n in codes.items() if isinstance(code, int) and code >= 500
            )
            print(f"{name:<22} {len(values):>6} {p50:>8.1f} {p99:>8.1f}  {codes}")
        by_status = dict(
            Deployment.all_orgs.filter(id__in=accepted)
            .values_list("status")
            .annotate(n=Count("id"))
        )
        charges = (
            CreditTransaction.all_orgs.filter(type=TransactionType.USAGE)
            .values("reference")
            .annotate(n=Count("id"))
        )
        charged_twice = [c for c in charges if c["n"] > 1]
        charged = {c["reference"] for c in charges}
        uncharged = [d for d in accepted if not any(d in ref for ref in charged if ref)]
        print(f"accepted deployments: {len(accepted)}, by status: {by_status}")
        print(f"charged twice: {len(charged_twice)}, not charged: {len(uncharged)}")
        try:
            call_command("check_ledger")
            ledger_ok = True
        except SystemExit as exc:
            ledger_ok = exc.code in (0, None)
        print(
            f"check_ledger: {'ok' if ledger_ok else 'FAILED'}; read p99 {read_p99:.1f} ms (goal < {READ_P99_GOAL_MS})"
        )
        ok = (
            errors == 0
            and server_errors == 0
            and by_status.get("completed", 0) == len(accepted)
            and not charged_twice
            and not uncharged
            and ledger_ok
            and read_p99 < READ_P99_GOAL_MS
        )
        return 0 if ok else 1
    finally:
        drop_database(env)


if __name__ == "__main__":
    sys.exit(main())
