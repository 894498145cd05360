"""The local agent runtime: how fast a deploy becomes healthy, and what the platform adds to a call.

    .venv/bin/python benchmarks/runtime_invoke.py [--rounds 5] [--calls 300]

1. **Deploy → healthy**, for an agent built by the real pixell-sdk (`pixell init` + `build`) whose
   requirements are already installed: ``POST /deploy`` to the runtime, then its health route
   polled every 10 ms until healthy (download, checksum, validation, unpack, venv lookup, process
   start, first answer). Beside it, the **start floor**: the same agent host started directly on
   the already unpacked package, until it answers its first request. Goal: ≤ 1.5× the floor.
2. **Invocation**: ``POST /api/agent-apps/:id/invoke`` (gunicorn as the Procfile runs it, API key,
   PostgreSQL + Redis, metering included) beside ``POST /invoke`` straight to the agent, and the
   runtime's hop alone, one caller, keep-alive, alternating in batches; once as isolated calls
   50 ms apart and once back to back. The platform meters an answer after sending it, on the same
   connection, so back to back each call also waits for the previous one's ledger write. Goal: the
   platform adds ≤ 10 ms to an isolated call at the median.

Servers: DATABASE_URL / REDIS_URL (harness defaults); its own database ``pixell_bench_runtime`` and
Redis DBs 8-9. The agent's venv is shared with the tests (/tmp/pixell-runtime-test-venvs), so only a
first run on a machine installs fastapi/uvicorn. Exit status 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import (
    Server,
    bench_environment,
    create_database,
    drop_database,
    flush_redis,
    setup_django,
)

START_GOAL = 1.5
OVERHEAD_GOAL_MS = 10.0
# Between isolated calls: a caller that does not fire the next call on the same connection the
# instant an answer arrives (the answer's metering runs after it is sent, on that connection).
PAUSE = 0.05
VENVS = Path("/tmp/pixell-runtime-test-venvs")


def build_package(root: Path) -> Path:
    from tests.agentapps.kit import sdk_build, sdk_init, sdk_write_env

    project = sdk_init(root, "bench-agent")
    sdk_write_env(project, {"LOG_LEVEL": "info"})
    return sdk_build(project, root / "dist")


def serve_file(path: Path):
    """The package over HTTP, as the platform's signed link serves it."""
    import functools
    import http.server

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(path.parent))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/{path.name}"


def deploy_to_healthy(session, runtime_url, secret, payload) -> float:
    headers = {"Authorization": f"Bearer {secret}"}
    started = time.perf_counter()
    response = session.post(
        f"{runtime_url}/deploy",
        json=payload,
        headers={**headers, "Idempotency-Key": payload["deploymentId"]},
    )
    assert response.status_code == 202, response.text
    while True:
        health = session.get(
            f"{runtime_url}/deployments/{payload['deploymentId']}/health", headers=headers
        )
        if health.status_code != 200:
            raise SystemExit(f"deploy failed: {health.text}")
        if health.json()["healthy"]:
            return time.perf_counter() - started
        time.sleep(0.01)


def start_floor(directory: Path, venv: Path, manifest: dict) -> float:
    """The agent host started by hand on the unpacked package, until its first answer."""
    import requests

    from runtime.server.agents import _ISOLATED_BOOT, free_port

    port = free_port()
    command = [
        str(venv / "bin" / "python"), "-I", "-c", _ISOLATED_BOOT, "--port", str(port),
        "--entrypoint", manifest["entrypoint"], "--rest", manifest["rest"]["entry"],
        "--ui", manifest["ui"]["path"],
    ]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=directory, env={"PATH": f"{venv}/bin:/usr/bin:/bin", "HOME": str(directory)},
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200:
                    return time.perf_counter() - started
            except requests.RequestException:
                pass
            if process.poll() is not None:
                raise SystemExit("the agent host exited")
            time.sleep(0.01)
    finally:
        process.terminate()
        process.wait(timeout=10)


def latencies(call, n: int, pause: float = 0.0) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        out.append((time.perf_counter() - started) * 1000)
        time.sleep(pause)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()

    env = bench_environment("runtime", redis_db=8)
    create_database(env)
    flush_redis(env)
    work = Path(tempfile.mkdtemp(prefix="pixell-bench-runtime-"))
    try:
        setup_django(env)
        import requests
        from django.conf import settings

        from accounts.models import User
        from agentapps.services import agent_app_create
        from organizations.models import Organization
        from organizations.services import api_key_create, organization_create
        from runtime.server import build
        from runtime.server.agents import Limits, ensure_venv, unpack

        owner = User.objects.create_user(email="bench@example.com", password="bench-password-123")
        org = organization_create(name="Bench", owner=owner)
        Organization.objects.filter(pk=org.pk).update(credits=10**9)
        app = agent_app_create(organization=org, actor=owner, name="bench-app")
        _, raw_key = api_key_create(organization=org, name="bench")

        package = build_package(work)
        files, package_url = serve_file(package)
        secret = secrets.token_urlsafe(32)
        runtime = build(
            port=0, secret=secret, data_dir=work / "runtime", venvs_dir=VENVS, limits=Limits(),
            installer_env=settings.PIXELL_RUNTIME_INSTALLER_ENV,
        )  # fmt: skip
        threading.Thread(target=runtime.serve_forever, daemon=True).start()
        runtime_url = f"http://127.0.0.1:{runtime.server_address[1]}"

        # The venv exists before timing starts: "requirements already installed".
        unpacked = work / "unpacked"
        unpacked.mkdir()
        manifest = unpack(package, unpacked, max_bytes=100 * 1024 * 1024)
        venv = ensure_venv(
            unpacked,
            VENVS,
            work / "runtime" / "uv-cache",
            installer_env=settings.PIXELL_RUNTIME_INSTALLER_ENV,
        )

        payload = {
            "agentAppId": str(app.id), "orgId": str(org.id), "version": "0.1.0",
            "packageUrl": package_url,
            "packageSha256": hashlib.sha256(package.read_bytes()).hexdigest(),
            "forceRefresh": False, "environment": {},
        }  # fmt: skip
        deploys, floors = [], []
        with requests.Session() as session:
            session.trust_env = False
            for round_ in range(args.rounds):
                floors.append(start_floor(unpacked, venv, manifest))
                deploys.append(
                    deploy_to_healthy(
                        session, runtime_url, secret, {**payload, "deploymentId": f"bench-{round_}"}
                    )
                )
                print(f"round {round_ + 1}: deploy→healthy {deploys[-1] * 1000:.0f} ms, "
                      f"start floor {floors[-1] * 1000:.0f} ms", flush=True)  # fmt: skip
        deploy_ms = statistics.median(deploys) * 1000
        floor_ms = statistics.median(floors) * 1000
        ratio = deploy_ms / floor_ms

        agent = runtime.supervisor.agents[str(app.id)]
        server = Server(env, workers=2, worker_class="gthread", threads=4)
        server.env.update(
            PIXELL_RUNTIME_URL=runtime_url,
            PIXELL_RUNTIME_SECRET=secret,
            PIXELL_INVOCATION_TIMEOUT_SECONDS="30",
        )
        body = json.dumps({"action": "hello", "data": {"n": 1}})
        with (
            server,
            requests.Session() as platform,
            requests.Session() as direct,
            requests.Session() as hop,
        ):
            platform.trust_env = direct.trust_env = hop.trust_env = False
            platform.headers.update(
                {"Authorization": f"Bearer {raw_key}", "Content-Type": "application/json"}
            )
            direct.headers["Content-Type"] = "application/json"
            hop.headers.update(
                {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
            )
            runtime_invoke_url = f"{runtime_url}/apps/{app.id}/invoke"
            invoke_url = f"{server.url}/api/agent-apps/{app.id}/invoke"
            agent_url = f"http://127.0.0.1:{agent.port}/invoke"

            def via_platform():
                response = platform.post(invoke_url, data=body)
                assert response.status_code == 200, response.text

            def via_agent():
                response = direct.post(agent_url, data=body)
                assert response.status_code == 200, response.text

            def via_runtime():
                response = hop.post(runtime_invoke_url, data=body)
                assert response.status_code == 200, response.text

            latencies(via_platform, 20)  # warm both workers and connections
            latencies(via_agent, 20)
            latencies(via_runtime, 20)
            figures = {}
            for label, pause in (("isolated calls, 50 ms apart", PAUSE), ("back to back", 0.0)):
                platform_ms, agent_ms, runtime_ms = [], [], []
                batch = max(1, args.calls // 10)
                for _ in range(10):
                    platform_ms += latencies(via_platform, batch, pause)
                    agent_ms += latencies(via_agent, batch, pause)
                    runtime_ms += latencies(via_runtime, batch, pause)
                figures[label] = (platform_ms, agent_ms, runtime_ms)
        print()
        print(f"deploy → healthy (requirements installed): median {deploy_ms:.0f} ms over "
              f"{args.rounds}; start floor {floor_ms:.0f} ms; ratio {ratio:.2f} (goal ≤ {START_GOAL})")  # fmt: skip
        for label, (platform_ms, agent_ms, runtime_ms) in figures.items():
            p_med, a_med = statistics.median(platform_ms), statistics.median(agent_ms)
            r_med = statistics.median(runtime_ms)
            print(f"invoke, {label}: through the platform median {p_med:.2f} ms (p90 "
                  f"{statistics.quantiles(platform_ms, n=10)[-1]:.2f}); agent directly {a_med:.2f} ms; "
                  f"platform adds {p_med - a_med:.2f} ms, of which the runtime's hop "
                  f"{r_med - a_med:.2f} ms and the web process {p_med - r_med:.2f} ms")  # fmt: skip
        platform_ms, agent_ms, _ = figures["isolated calls, 50 ms apart"]
        added = statistics.median(platform_ms) - statistics.median(agent_ms)
        print(
            f"goal: the platform adds ≤ {OVERHEAD_GOAL_MS} ms to an isolated call: {added:.2f} ms"
        )
        runtime.shutdown()
        runtime.supervisor.shutdown()
        files.shutdown()
        return 0 if ratio <= START_GOAL and added <= OVERHEAD_GOAL_MS else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
        drop_database(env)


if __name__ == "__main__":
    sys.exit(main())
