"""What authentication, tenancy and rate limiting cost per request (issue 2, Performance).

    .venv/bin/python benchmarks/auth_overhead.py [--worker-class gthread|sync] [--rounds 5] [--duration 5] [--profile 2000]

Under gunicorn (2 workers; gthread with 4 threads as the Procfile runs it, or sync) on PostgreSQL and
Redis, compares the requests/s of an API-key-authenticated ``GET /api/organizations/current`` with a
bare unauthenticated DRF view (``/bench/bare``, benchmarks/bench_urls.py) on the same server,
measured in the same run. Each round measures both, back to back, and the reported ratio is the
median of the rounds' ratios, so load from other processes on the machine hits both sides alike.
Goal: ratio >= 0.5. Also prints the SQL queries each request makes and, with ``--profile N``, where
the authenticated request's time goes (cProfile over N in-process requests).

Servers: DATABASE_URL / REDIS_URL name them (defaults: 127.0.0.1:5432 as postgres, 127.0.0.1:6379);
the benchmark creates and drops its own database ``pixell_bench_auth`` and uses Redis DBs 12-13.
Exit status 1 when the ratio is below the goal.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import (
    Server,
    bench_environment,
    create_database,
    drop_database,
    flush_redis,
    load,
    setup_django,
)

GOAL = 0.5
BARE = "/bench/bare"
CURRENT = "/api/organizations/current"


def _fixtures():
    from django.utils import timezone

    from accounts.models import User
    from organizations.services import api_key_create, organization_create

    owner = User.objects.create_user(
        email="bench-owner@example.com",
        password="bench-password-0123",
        email_verified_at=timezone.now(),
    )
    organization = organization_create(name="Bench Org", owner=owner)
    _, raw_key = api_key_create(organization=organization, name="bench")
    return organization, raw_key


def _queries_per_request(headers: dict[str, str]) -> dict[str, int]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(REMOTE_ADDR="127.0.0.1")
    counts = {}
    for name, path, extra in ((BARE, BARE, {}), (CURRENT, CURRENT, headers)):
        client.get(path, headers=extra)  # first use may write (e.g. an API key's last_used_at)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(path, headers=extra)
        assert response.status_code == 200, (path, response.status_code, response.content[:500])
        counts[name] = len(captured.captured_queries)
    return counts


def _profile(headers: dict[str, str], requests: int) -> str:
    from django.test import Client

    client = Client(REMOTE_ADDR="127.0.0.1")
    for _ in range(50):
        client.get(CURRENT, headers=headers)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        client.get(CURRENT, headers=headers)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(35)
    return out.getvalue()


def _check(server: Server, organization, headers: dict[str, str]) -> None:
    import json
    import urllib.request

    with urllib.request.urlopen(server.url + BARE, timeout=5) as response:
        assert response.status == 200
    request = urllib.request.Request(server.url + CURRENT, headers=headers)
    with urllib.request.urlopen(request, timeout=5) as response:
        body = json.loads(response.read())
    # The authenticated endpoint must really answer for the key's organization, or we'd be
    # measuring an error path.
    assert body["organization"]["id"] == str(organization.id), body


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--duration", type=float, default=5, help="seconds per measurement (default 5)"
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="rounds, each measuring both endpoints (default 5)"
    )
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--worker-class",
        default="gthread",
        choices=["gthread", "sync"],
        help="gthread (4 threads, as the Procfile) or sync",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="also profile N in-process authenticated requests",
    )
    parser.add_argument(
        "--keep-db", action="store_true", help="keep the pixell_bench_auth database afterwards"
    )
    args = parser.parse_args()

    env = bench_environment("auth", redis_db=12)
    create_database(env)
    flush_redis(env)
    setup_django(env)
    try:
        from django.urls import Resolver404, resolve

        try:
            resolve(CURRENT)
        except Resolver404:
            print(f"{CURRENT} is not routed yet: nothing to measure", file=sys.stderr)
            return 2
        organization, raw_key = _fixtures()
        headers = {"Authorization": f"Bearer {raw_key}"}
        queries = _queries_per_request(headers)

        results: dict[str, list] = {BARE: [], CURRENT: []}
        threads = 4 if args.worker_class == "gthread" else 1
        with Server(env, workers=2, worker_class=args.worker_class, threads=threads) as server:
            _check(server, organization, headers)
            for path, extra in (
                (BARE, {}),
                (CURRENT, headers),
            ):  # warm-up: imports, connections, caches
                load(
                    server.url + path,
                    headers=extra,
                    duration=2,
                    connections=args.connections,
                    threads=args.threads,
                )
            for _ in range(args.rounds):
                for path, extra in ((BARE, {}), (CURRENT, headers)):
                    result = load(
                        server.url + path,
                        headers=extra,
                        duration=args.duration,
                        connections=args.connections,
                        threads=args.threads,
                    )
                    if result.errors:
                        raise SystemExit(
                            f"{path}: {result.errors} failed requests in a measurement; figures would be wrong"
                        )
                    results[path].append(result)

        tool = results[BARE][0].tool
        shape = (
            f"2 gthread workers x {threads} threads"
            if args.worker_class == "gthread"
            else "2 sync workers"
        )
        print(f"gunicorn {shape}, PostgreSQL + Redis, {tool} -t{args.threads} -c{args.connections}, "
              f"{args.rounds} rounds x {args.duration:g} s per endpoint")  # fmt: skip
        print(
            f"{'endpoint':<44}{'req/s (mean)':>14}  {'p50 ms':>8}{'p99 ms':>8}{'queries':>9}   req/s per round"
        )
        means = {}
        for path, label in (
            (BARE, "bare DRF view (no auth)"),
            (CURRENT, "GET /api/organizations/current (API key)"),
        ):
            rounds = results[path]
            means[path] = statistics.mean(r.rps for r in rounds)
            p50 = statistics.median(r.p50_ms for r in rounds if r.p50_ms is not None)
            p99 = statistics.median(r.p99_ms for r in rounds if r.p99_ms is not None)
            per_round = " / ".join(f"{r.rps:.0f}" for r in rounds)
            print(
                f"{label:<44}{means[path]:>14.0f}  {p50:>8.2f}{p99:>8.2f}{queries[path]:>9}   {per_round}"
            )
        ratios = [
            current.rps / bare.rps
            for bare, current in zip(results[BARE], results[CURRENT], strict=False)
        ]
        ratio = statistics.median(ratios)
        print(f"per-round ratios: {' '.join(f'{r:.2f}' for r in ratios)}")
        verdict = "meets" if ratio >= GOAL else "BELOW"
        print(
            f"ratio authenticated / bare = {ratio:.2f} (median of rounds; {verdict} the goal of {GOAL})"
        )

        if args.profile:
            print(f"\ncProfile of {args.profile} in-process authenticated requests (cumulative):")
            print(_profile(headers, args.profile))
        return 0 if ratio >= GOAL else 1
    finally:
        if not args.keep_db:
            drop_database(env)


if __name__ == "__main__":
    sys.exit(main())
