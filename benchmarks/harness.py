"""Shared machinery for benchmarks that measure the real product on PostgreSQL and Redis.

    from benchmarks.harness import bench_environment, create_database, setup_django, Server, load

- ``bench_environment(name, redis_db=N)``: the product's environment for one benchmark: its own
  PostgreSQL database ``pixell_bench_<name>`` on the server named by ``DATABASE_URL`` (default
  ``postgres://postgres@127.0.0.1:5432``), Redis DB ``N`` (cache) and ``N+1`` (broker) on the server
  named by ``REDIS_URL`` (default ``redis://127.0.0.1:6379``), production-like settings
  (``DEBUG=false``) and rate limits too high to answer 429 (the limiter still runs).
- ``create_database(env)`` / ``drop_database(env)``; ``flush_redis(env)``; ``setup_django(env)``
  (migrates): the benchmark process then uses the ORM and services to build its fixtures.
- ``Server(env, workers=2, worker_class="sync")``: gunicorn on a free loopback port, stopped with
  its whole process group on exit; ``server.url``, ``server.worker_pids()``.
- ``load(url, headers=…, duration=…)``: requests/s and latency with ``wrk`` (installed with apt-get
  when missing and we are root), else a bounded multi-threaded Python loop.
- ``peak_rss_kib(pid)``, ``median_seconds(fn, repeat)``.

Only loopback addresses are ever contacted; every loop is bounded by a duration or a count.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
_BENCH_DB = re.compile(r"^pixell_bench_[a-z0-9_]+$")


def _with_path(url: str, path: str) -> str:
    return urllib.parse.urlsplit(url)._replace(path=path).geturl()


def bench_environment(name: str, *, redis_db: int, **overrides: str) -> dict[str, str]:
    """The product's environment for benchmark ``name``. Servers come from DATABASE_URL/REDIS_URL;
    the database name and Redis DB numbers are always the benchmark's own, so a benchmark never
    touches (or drops) a database it did not create."""
    database_server = os.environ.get("DATABASE_URL") or DEFAULT_POSTGRES
    if not database_server.startswith(("postgres://", "postgresql://")):
        raise SystemExit(f"benchmarks run on PostgreSQL; DATABASE_URL is {database_server!r}")
    redis_server = os.environ.get("REDIS_URL") or DEFAULT_REDIS
    data_dir = tempfile.mkdtemp(prefix=f"pixell-bench-{name}-")
    Path(data_dir, "static").mkdir()  # WhiteNoise warns at every start when STATIC_ROOT is missing
    env = {
        "DJANGO_SETTINGS_MODULE": "benchmarks.bench_settings",
        "DATABASE_URL": _with_path(database_server, f"/pixell_bench_{name}"),
        "REDIS_URL": _with_path(redis_server, f"/{redis_db}"),
        "CELERY_BROKER_URL": _with_path(redis_server, f"/{redis_db + 1}"),
        "SECRET_KEY": "benchmark-secret-key-not-for-production-0123456789",
        "DEBUG": "false",
        "PIXELL_HTTPS": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "PIXELL_DATA_DIR": data_dir,
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "PIXELL_RATE_LIMIT_AUTHENTICATED": "1000000000/h",
        "PIXELL_RATE_LIMIT_ANONYMOUS": "1000000000/h",
    }
    env.update({key: str(value) for key, value in overrides.items()})
    return env


def _database_name(env: dict[str, str]) -> str:
    name = urllib.parse.urlsplit(env["DATABASE_URL"]).path.lstrip("/")
    if not _BENCH_DB.match(name):  # DROP DATABASE only ever runs on a benchmark's own database
        raise ValueError(f"not a benchmark database: {name!r}")
    return name


def create_database(env: dict[str, str]) -> None:
    """A fresh, empty benchmark database (dropped first if a previous run left it)."""
    import psycopg

    name = _database_name(env)
    with psycopg.connect(_with_path(env["DATABASE_URL"], "/postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(env: dict[str, str]) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    name = _database_name(env)
    with psycopg.connect(_with_path(env["DATABASE_URL"], "/postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def flush_redis(env: dict[str, str]) -> None:
    import redis

    for variable in ("REDIS_URL", "CELERY_BROKER_URL"):
        if env.get(variable, "").startswith("redis://"):
            redis.Redis.from_url(env[variable]).flushdb()


def setup_django(env: dict[str, str], *, migrate: bool = True) -> None:
    os.environ.update(env)
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _status(url: str, timeout: float = 2.0) -> int | None:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", parts.path or "/")
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


class Server:
    """gunicorn serving the product (bench settings) on 127.0.0.1, for the duration of a ``with``."""

    def __init__(
        self, env: dict[str, str], *, workers: int = 2, worker_class: str = "sync", threads: int = 1,
        app: str = "pixell.wsgi:application", extra_args=(),
    ):  # fmt: skip
        self.env = env
        self.app = app
        self.workers = workers
        self.worker_class = worker_class
        self.threads = threads
        self.extra_args = list(extra_args)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in stop(), it outlives this call
            prefix="pixell-bench-gunicorn-", suffix=".log", delete=False
        )
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        command = [
            sys.executable, "-m", "gunicorn", self.app,
            "--bind", f"127.0.0.1:{self.port}",
            "--workers", str(self.workers),
            "--worker-class", self.worker_class,
            "--threads", str(self.threads),
            "--no-control-socket",
            "--log-level", "warning",
            *self.extra_args,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, cwd=ROOT, env={**os.environ, **self.env}, stdin=subprocess.DEVNULL,
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{Path(self.log.name).read_text()[-3000:]}")
            if _status(f"{self.url}/bench/bare") == 200:
                return self
            time.sleep(0.2)
        self.__exit__(None, None, None)
        raise RuntimeError("gunicorn did not answer within 60 s")

    def worker_pids(self) -> list[int]:
        children = (
            Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        )
        return [int(pid) for pid in children]

    def __exit__(self, *exc) -> None:
        if self.process is None:
            return
        for sig, grace in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        self.process = None


@dataclass
class LoadResult:
    rps: float
    requests: int
    errors: int  # non-2xx/3xx answers and socket errors: a run with errors measures the wrong thing
    p50_ms: float | None
    p99_ms: float | None
    tool: str


def ensure_wrk() -> str | None:
    found = shutil.which("wrk")
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    print("installing wrk (apt-get)…", file=sys.stderr)
    subprocess.run(
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk",
        shell=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return shutil.which("wrk")


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _wrk_latency(output: str, percentile: str) -> float | None:
    match = re.search(rf"^\s*{percentile}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    return float(match.group(1)) * _UNITS_MS[match.group(2)] if match else None


def _load_wrk(
    wrk: str, url: str, headers: dict[str, str], duration: float, connections: int, threads: int
) -> LoadResult:
    command = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(int(duration), 1)}s",
        "--latency",
        "--timeout",
        "10s",
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, timeout=duration + 60
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return LoadResult(
        rps, requests, errors, _wrk_latency(output, "50"), _wrk_latency(output, "99"), "wrk"
    )


def _load_python(
    url: str, headers: dict[str, str], duration: float, connections: int
) -> LoadResult:
    parts = urllib.parse.urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors = [0] * connections
    deadline = time.monotonic() + duration

    def run(index: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                conn.request("GET", target, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status >= 400:
                    errors[index] += 1
            except OSError:
                errors[index] += 1
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
                continue
            latencies[index].append(time.perf_counter() - started)
        conn.close()

    started = time.monotonic()
    workers = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(connections)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(duration + 15)
    elapsed = time.monotonic() - started
    flat = sorted(x for per in latencies for x in per)
    if not flat:
        return LoadResult(0.0, 0, sum(errors), None, None, "python")
    pick = lambda q: flat[min(int(q * len(flat)), len(flat) - 1)] * 1000  # noqa: E731
    return LoadResult(len(flat) / elapsed, len(flat), sum(errors), pick(0.50), pick(0.99), "python")


def load(
    url: str,
    *,
    headers: dict[str, str] | None = None,
    duration: float = 10,
    connections: int = 20,
    threads: int = 2,
) -> LoadResult:
    """Closed-loop load on one URL for ``duration`` seconds with ``connections`` keep-alive connections."""
    headers = headers or {}
    wrk = ensure_wrk()
    if wrk:
        return _load_wrk(wrk, url, headers, duration, connections, threads)
    return _load_python(url, headers, duration, connections)


def peak_rss_kib(pid: int) -> int:
    """The process's peak resident set size so far (VmHWM), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for pid {pid}")


def median_seconds(fn, *, repeat: int = 21, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)
