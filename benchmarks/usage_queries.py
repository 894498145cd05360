"""Usage benchmark (issue 5): with N usage events in one organization on PostgreSQL, the median
latency of GET /api/usage/metrics and GET /api/usage/chart?days=365 beside a bare indexed COUNT
over the same window, and the peak RSS of exporting a year of those events.

    .venv/bin/python benchmarks/usage_queries.py [--events N] [--repeat R] [--keep]

Runs in its own database ``pixell_bench_usage`` and Redis DB 14 (benchmarks/harness.py), seeded
with ``seed_usage``; ``--keep`` leaves the seeded database for the next run (which then reuses it).
Goals: each endpoint under 50 ms and under 3x its COUNT; export peak RSS under 100 MiB. Exits
non-zero when a goal is missed.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import (
    bench_environment,
    create_database,
    drop_database,
    flush_redis,
    setup_django,
)

ORG_NAME = "Usage benchmark"
RSS_LIMIT_MIB = 100
LATENCY_LIMIT_MS = 50
RATIO_LIMIT = 3


def _peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _median_ms(fn, repeat: int) -> float:
    fn()  # warm caches and connections
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def export_child(org_id: str) -> None:
    """Runs in a fresh process so VmHWM measures this export alone."""
    import django

    django.setup()  # the parent's environment (benchmarks/harness.py), inherited
    from datetime import timedelta

    from django.core.files.storage import default_storage
    from django.utils import timezone

    from organizations.models import Organization
    from usage.services import usage_export_create

    org = Organization.objects.get(pk=org_id)
    end = timezone.now().date()
    baseline = _peak_rss_mib()
    started = time.perf_counter()
    export = usage_export_create(
        organization=org,
        actor=None,
        format="csv",
        start_date=end - timedelta(days=364),
        end_date=end,
    )
    elapsed = time.perf_counter() - started
    peak = _peak_rss_mib()
    default_storage.delete(export.storage_key)
    print(f"{export.rows} {export.size} {elapsed:.2f} {baseline:.1f} {peak:.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the seeded database")
    parser.add_argument("--export-child", metavar="ORG_ID", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_child:
        export_child(args.export_child)
        return 0

    env = bench_environment("usage", redis_db=14)
    if not args.keep or not _database_exists(env):
        create_database(env)
    flush_redis(env)
    setup_django(env)  # migrates; the export child inherits this environment
    from datetime import timedelta

    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from rest_framework_simplejwt.tokens import RefreshToken

    from organizations.models import Membership, Organization
    from usage.models import UsageEvent
    from usage.selectors import day_window
    from usage.services import utc_midnight

    org = None
    for candidate in Organization.objects.filter(name=ORG_NAME).order_by("-created_at"):
        if UsageEvent.objects.for_org(candidate).count() == args.events:
            org = candidate
            break
    if org is None:
        call_command("seed_usage", events=args.events, org="create", stdout=sys.stdout)
        org = Organization.objects.filter(name=ORG_NAME).order_by("-created_at").first()
    owner = Membership.objects.filter(organization=org).select_related("user").first().user
    client = Client(
        HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(owner).access_token}",
        HTTP_X_ORGANIZATION_ID=str(org.pk),
    )
    events = UsageEvent.objects.for_org(org)

    def get(path):
        def call():
            response = client.get(path)
            assert response.status_code == 200, response.content[:200]

        return call

    def count_between(first, last):
        start, end = utc_midnight(first), utc_midnight(last + timedelta(days=1))
        return lambda: events.filter(occurred_at__gte=start, occurred_at__lt=end).count()

    metrics_first, today = day_window(days=30)
    chart_first, _ = day_window(days=365)
    rows = [
        (
            "GET /api/usage/metrics (30 d vs 30 d before)",
            get("/api/usage/metrics"),
            count_between(metrics_first - timedelta(days=30), today),
        ),
        (
            "GET /api/usage/chart?days=365",
            get("/api/usage/chart?days=365"),
            count_between(chart_first, today),
        ),
    ]
    print(
        f"PostgreSQL {connection.pg_version}, {events.count():,} usage events in organization {org.pk}"
    )
    print(f"{'endpoint':48} {'median':>9} {'bare COUNT':>11} {'ratio':>6}")
    ok = True
    for label, endpoint, baseline in rows:
        endpoint_ms, count_ms = _median_ms(endpoint, args.repeat), _median_ms(baseline, args.repeat)
        ratio = endpoint_ms / count_ms
        ok &= endpoint_ms < LATENCY_LIMIT_MS and ratio < RATIO_LIMIT
        print(f"{label:48} {endpoint_ms:7.1f}ms {count_ms:9.1f}ms {ratio:5.2f}x")

    child = subprocess.run(
        [sys.executable, __file__, "--export-child", str(org.pk)],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ.copy(),
    )
    n, size, seconds, baseline_mib, peak_mib = child.stdout.split()
    ok &= float(peak_mib) < RSS_LIMIT_MIB
    print(
        f"export of a year (CSV): {int(n):,} rows, {int(size) / 2**20:.1f} MiB in {float(seconds):.1f} s; "
        f"peak RSS {float(peak_mib):.1f} MiB (after Django setup {float(baseline_mib):.1f} MiB; goal < {RSS_LIMIT_MIB} MiB)"
    )
    print("all goals met" if ok else "GOAL MISSED")
    if not args.keep:
        drop_database(env)
    return 0 if ok else 1


def _database_exists(env) -> bool:
    import urllib.parse

    import psycopg

    name = urllib.parse.urlsplit(env["DATABASE_URL"]).path.lstrip("/")
    server = urllib.parse.urlsplit(env["DATABASE_URL"])._replace(path="/postgres").geturl()
    with psycopg.connect(server, autocommit=True) as conn:
        return (
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            is not None
        )


if __name__ == "__main__":
    sys.exit(main())
