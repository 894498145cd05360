"""Upload a ~100 MiB package through the API to a real gunicorn server (issue 3, Performance).

    .venv/bin/python benchmarks/package_upload.py [--storage local|s3] [--runs 5] [--size-mib 100]

Measures:
- the gunicorn worker's peak RSS growth during each upload (goal < 32 MiB), from /proc/<pid>/status
  (VmHWM, reset before each upload through /proc/<pid>/clear_refs);
- the time of upload + validation + hashing + storing against `cp` of the same file on the same disk
  (goal <= 2x), beside two references measured in the same run: the transport floor (the same body
  posted to the same gunicorn running an app that only reads and drops it) and the server's own work
  (the WSGI application called in a subprocess, the body streamed from a file: no network).

Runs on the shared harness (benchmarks/harness.py): PostgreSQL database ``pixell_bench_upload``
(created and dropped), Redis DBs 8-9, local storage in the run's PIXELL_DATA_DIR; ``--storage s3``
stores into a moto server started for the run. Exit status 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import (
    Server,
    bench_environment,
    create_database,
    drop_database,
    flush_redis,
    free_port,
    setup_django,
)

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
MiB = 1024 * 1024
RSS_GOAL_MIB = 32
TIME_RATIO_GOAL = 2.0

AGENT_YAML = """\
version: "1.0"
name: bench-agent
display_name: Bench Agent
description: Benchmark package
author: Bench
license: MIT
entrypoint: src.main:handler
metadata:
  version: {version}
"""


def build_package(path: Path, *, total_bytes: int, version: str) -> None:
    """A valid package of about ``total_bytes``: the kit's layout plus one stored random member."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("agent.yaml", AGENT_YAML.format(version=version))
        zf.writestr(".env", "LOG_LEVEL=info\n")
        zf.writestr("src/__init__.py", "")
        zf.writestr("src/main.py", "def handler(context):\n    return {'ok': True}\n")
        info = zipfile.ZipInfo("assets/blob.bin")
        info.compress_type = zipfile.ZIP_STORED
        remaining = total_bytes - 4096  # headers and central directory
        with zf.open(info, "w", force_zip64=False) as member:
            while remaining > 0:
                block = os.urandom(min(MiB, remaining))
                member.write(block)
                remaining -= len(block)


# The transport floor: the same gunicorn, an app that only reads the request body and drops it.
DRAIN_APP = """
def application(environ, start_response):
    stream, left = environ["wsgi.input"], int(environ.get("CONTENT_LENGTH") or 0)
    while left > 0:
        block = stream.read(min(65536, left))
        if not block:
            break
        left -= len(block)
    status = "200 OK" if environ["REQUEST_METHOD"] == "GET" else "201 Created"  # GET: the harness's probe
    start_response(status, [("Content-Type", "application/json")])
    return [b"{}"]
"""


# The server's own work without any network: the WSGI application called in a subprocess, the
# request body streamed from a file (the multipart encoding of the package).
IN_PROCESS_SCRIPT = """
import json, os, sys, time
import django
django.setup()
from pixell.wsgi import application
args = json.loads(sys.argv[1])
times = []
for body_path, boundary in args["bodies"]:
    with open(body_path, "rb") as body:
        environ = {
            "REQUEST_METHOD": "POST", "PATH_INFO": f"/api/agent-apps/{args['app_id']}/packages",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1", "wsgi.url_scheme": "http",
            "wsgi.input": body, "wsgi.errors": sys.stderr, "CONTENT_LENGTH": str(os.path.getsize(body_path)),
            "CONTENT_TYPE": f"multipart/form-data; boundary={boundary}", "HTTP_AUTHORIZATION": f"Bearer {args['api_key']}",
        }
        status = []
        started = time.perf_counter()
        result = application(environ, lambda s, h: status.append(s))
        b"".join(result)
        result.close()
        times.append(time.perf_counter() - started)
        assert status[0].startswith("201"), status
print(json.dumps(times))
"""


def multipart_head(boundary: str, version: str) -> bytes:
    return (
        f'--{boundary}\r\nContent-Disposition: form-data; name="version"\r\n\r\n{version}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="agent.apkg"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()


def multipart_tail(boundary: str) -> bytes:
    return f"\r\n--{boundary}--\r\n".encode()


def write_body(package: Path, target: Path, *, boundary: str, version: str) -> None:
    with open(target, "wb") as out, open(package, "rb") as src:
        out.write(multipart_head(boundary, version))
        shutil.copyfileobj(src, out, MiB)
        out.write(multipart_tail(boundary))


def run(cmd, env, **kwargs):
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def reset_peak(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # 5: reset the peak RSS (VmHWM) to current
        return True
    except OSError:
        return False


def upload(
    port: int, *, app_id: str, api_key: str, path: Path, version: str
) -> tuple[int, dict, float, float]:
    """Stream a multipart POST from disk (never holding the file in memory).

    Returns (status, body, total seconds, seconds from the last byte sent to the answer)."""
    boundary = uuid.uuid4().hex
    head, tail = multipart_head(boundary, version), multipart_tail(boundary)
    length = len(head) + path.stat().st_size + len(tail)
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.putrequest("POST", f"/api/agent-apps/{app_id}/packages")
    conn.putheader("Authorization", f"Bearer {api_key}")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(length))
    conn.endheaders()
    conn.send(head)
    with open(path, "rb") as fh:
        while block := fh.read(MiB):
            conn.send(block)
    conn.send(tail)
    sent = time.perf_counter()
    response = conn.getresponse()
    body = json.loads(response.read() or b"{}")
    done = time.perf_counter()
    conn.close()
    return response.status, body, done - started, done - sent


def time_cp(src: Path, dst_dir: Path) -> float:
    dst = dst_dir / f"cp-{uuid.uuid4().hex}.apkg"
    started = time.perf_counter()
    subprocess.run(["cp", str(src), str(dst)], check=True)
    elapsed = time.perf_counter() - started
    dst.unlink()
    return elapsed


def start_moto() -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port)
    endpoint = f"http://127.0.0.1:{port}"
    import boto3

    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        region_name="us-east-1",
    ).create_bucket(Bucket="bench")
    return proc, endpoint


def _fixtures() -> dict:
    from accounts.models import User
    from agentapps.models import AgentApp
    from organizations.services import api_key_create, organization_create

    user = User.objects.create_user(email="bench@example.com", password="bench-password-123")
    org = organization_create(name="Bench", owner=user)
    app = AgentApp.objects.for_org(org).create(organization=org, name="Bench App")
    _, key = api_key_create(organization=org, name="bench")
    return {"app_id": str(app.id), "api_key": key}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--storage", choices=["local", "s3"], default="local")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size-mib", type=int, default=100)
    parser.add_argument(
        "--keep-db", action="store_true", help="keep the pixell_bench_upload database afterwards"
    )
    args = parser.parse_args()

    moto = None
    overrides = {"PIXELL_MAX_PACKAGE_BYTES": str(args.size_mib * MiB)}
    if args.storage == "s3":
        moto, endpoint = start_moto()
        overrides.update(
            AWS_STORAGE_BUCKET_NAME="bench", AWS_S3_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench", AWS_S3_REGION_NAME="us-east-1",
        )  # fmt: skip
    env = bench_environment("upload", redis_db=8, **overrides)
    work = Path(env["PIXELL_DATA_DIR"]) / "bench"
    work.mkdir()
    create_database(env)
    flush_redis(env)
    setup_django(env)
    try:
        ids = _fixtures()
        packages, bodies = [], []
        for i in range(args.runs):
            path = work / f"bench-{i}.apkg"
            build_package(path, total_bytes=args.size_mib * MiB - 64 * 1024, version=f"1.0.{i}")
            packages.append(path)
            in_process = work / f"bench-in-process-{i}.apkg"
            build_package(
                in_process, total_bytes=args.size_mib * MiB - 64 * 1024, version=f"2.0.{i}"
            )
            boundary = uuid.uuid4().hex
            write_body(in_process, work / f"body-{i}.bin", boundary=boundary, version=f"2.0.{i}")
            in_process.unlink()
            bodies.append((str(work / f"body-{i}.bin"), boundary))
        warm_small = work / "warm-small.apkg"
        build_package(warm_small, total_bytes=256 * 1024, version="0.0.1")
        warm_disk = work / "warm-disk.apkg"
        build_package(warm_disk, total_bytes=4 * MiB, version="0.0.2")
        size = packages[0].stat().st_size
        print(f"package: {size / MiB:.2f} MiB ({size:,} bytes), storage: {args.storage}, runs: {args.runs}, "
              f"gunicorn 1 sync worker, PostgreSQL + Redis")  # fmt: skip

        # Each round measures the upload, the transport floor and cp back to back, so load from
        # other processes on the machine hits all three alike; ratios are medians of the rounds'.
        growths, times, floor, cp_times = [], [], [], []
        (work / "bench_drain.py").write_text(DRAIN_APP)
        drain_server = Server(
            env,
            workers=1,
            worker_class="sync",
            app="bench_drain:application",
            extra_args=["--pythonpath", str(work)],
        )
        with (
            Server(env, workers=1, worker_class="sync", extra_args=["--timeout", "600"]) as server,
            drain_server as drain,
        ):
            (worker,) = server.worker_pids()
            # Warm up: imports, connections, the in-memory and the on-disk upload paths.
            for path, version in ((warm_small, "0.0.1"), (warm_disk, "0.0.2")):
                status, body, _, _ = upload(server.port, **ids, path=path, version=version)
                assert status == 201, body
            for i, path in enumerate(packages):
                before = status_kib(worker, "VmRSS")
                exact_peak = reset_peak(worker)
                baseline = before if exact_peak else status_kib(worker, "VmHWM")
                status, body, elapsed, after_body = upload(
                    server.port, **ids, path=path, version=f"1.0.{i}"
                )
                if status != 201:
                    raise SystemExit(f"upload failed: {status} {body}")
                growth_mib = (status_kib(worker, "VmHWM") - baseline) / 1024
                growths.append(growth_mib)
                times.append(elapsed)
                floor.append(upload(drain.port, app_id="-", api_key="-", path=path, version="-")[2])
                cp_times.append(time_cp(path, work))
                print(
                    f"  round {i + 1}: upload {elapsed:.3f} s ({after_body:.3f} s after the last byte was sent), "
                    f"transport floor {floor[-1]:.3f} s, cp {cp_times[-1]:.3f} s, peak RSS growth {growth_mib:.1f} MiB"
                )

        in_process_out = run(
            [sys.executable, "-c", IN_PROCESS_SCRIPT, json.dumps({"bodies": bodies, **ids})], env
        )
        in_process_times = json.loads(in_process_out.strip().splitlines()[-1])

        upload_s, cp_s, floor_s = (
            statistics.median(times),
            statistics.median(cp_times),
            statistics.median(floor),
        )
        server_s = statistics.median(in_process_times)
        ratio = statistics.median(t / c for t, c in zip(times, cp_times, strict=False))
        floor_ratio = statistics.median(t / f for t, f in zip(times, floor, strict=False))
        peak = max(growths)

        def rate(seconds: float) -> str:
            return f"{size / MiB / seconds:.0f} MiB/s"

        print()
        print("median times for the same file:")
        print(
            f"  cp of the same file on the same disk:                  {cp_s:.3f} s ({rate(cp_s)})"
        )
        print(
            f"  API upload through gunicorn (validate, hash, store):   {upload_s:.3f} s ({rate(upload_s)})"
        )
        print(
            f"  the same body to gunicorn, read and dropped:           {floor_s:.3f} s ({rate(floor_s)}) transport floor"
        )
        print(
            f"  API upload, WSGI app in a subprocess, body from disk:  {server_s:.3f} s ({rate(server_s)}) server work alone"
        )
        print(
            f"ratio upload / cp: {ratio:.2f}x (goal <= {TIME_RATIO_GOAL:.0f}x) {'OK' if ratio <= TIME_RATIO_GOAL else 'MISSED'}"
        )
        print(
            f"ratio upload / transport floor: {floor_ratio:.2f}x; server work alone / cp: {server_s / cp_s:.2f}x"
        )
        print(
            f"server peak RSS growth: {peak:.1f} MiB (goal < {RSS_GOAL_MIB} MiB) {'OK' if peak < RSS_GOAL_MIB else 'MISSED'}"
            + ("" if exact_peak else " [VmHWM could not be reset: upper bound]")
        )
        return 0 if ratio <= TIME_RATIO_GOAL and peak < RSS_GOAL_MIB else 1
    finally:
        if moto is not None:
            moto.terminate()
            moto.wait(timeout=30)
        if not args.keep_db:
            drop_database(env)
        shutil.rmtree(env["PIXELL_DATA_DIR"], ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
