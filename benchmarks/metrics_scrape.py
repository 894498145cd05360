"""GET /metrics with 10,000 deployments (issue 12): the median time to answer a scrape, queue
gauges included (computed from the database at scrape time).

    .venv/bin/python benchmarks/metrics_scrape.py [--deployments N] [--repeat R]

Runs in its own PostgreSQL database ``pixell_bench_metrics`` and Redis DBs 10-11
(benchmarks/harness.py), through Django's test client in this process (the whole middleware stack
and the view, no network). Goal: median under 50 ms. Exits non-zero when missed.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import bench_environment, create_database, drop_database, setup_django

LIMIT_MS = 50
TOKEN = "bench-metrics-token"


def seed(count: int) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from deployments.models import Deployment, WebhookDelivery
    from organizations.services import organization_create
    from tests.factories import AgentAppFactory, PackageFactory, UserFactory, WebhookFactory

    org = organization_create(name="Metrics benchmark", owner=UserFactory(email="m@example.com"))
    app = AgentAppFactory(organization=org)
    package = PackageFactory(organization=org, agent_app=app)
    now = timezone.now()
    statuses = ["completed"] * 7 + ["failed", "queued", "processing"]
    Deployment.all_orgs.bulk_create(
        [
            Deployment(
                organization=org,
                agent_app=app,
                package=package,
                version=package.version,
                status=statuses[i % len(statuses)],
                cost=1,
                queued_at=now - timedelta(seconds=count - i),
            )
            for i in range(count)
        ],
        batch_size=2000,
    )
    webhook = WebhookFactory(organization=org, agent_app=app)
    WebhookDelivery.all_orgs.bulk_create(
        [
            WebhookDelivery(
                organization=org,
                webhook=webhook,
                event="deployment.completed",
                message_id=f"msg_{i}",
                body="{}",
                status="pending" if i % 5 == 0 else "succeeded",
            )
            for i in range(count // 2)
        ],
        batch_size=2000,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=31)
    args = parser.parse_args()
    env = bench_environment("metrics", redis_db=10, PIXELL_METRICS_TOKEN=TOKEN)
    create_database(env)
    try:
        setup_django(env)
        seed(args.deployments)
        from django.db import connection
        from django.test import Client

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        client = Client()
        timings = []
        for i in range(args.repeat + 3):
            started = time.perf_counter()
            response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, response.status_code
            if i >= 3:  # warm-up
                timings.append(elapsed)
        text = response.content.decode()
        gauges = [
            line
            for line in text.splitlines()
            if line.startswith(
                ("pixell_deployments_", "pixell_oldest", "pixell_webhook_deliveries_pending")
            )
        ]
        median = statistics.median(timings)
        print("\n".join(gauges))
        print(
            f"GET /metrics with {args.deployments:,} deployments: median {median:.1f} ms, "
            f"p90 {statistics.quantiles(timings, n=10)[-1]:.1f} ms over {len(timings)} scrapes "
            f"(goal < {LIMIT_MS} ms)"
        )
        return 0 if median < LIMIT_MS else 1
    finally:
        drop_database(env)


if __name__ == "__main__":
    sys.exit(main())
