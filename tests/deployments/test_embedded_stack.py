"""The embedded default end to end (CONTRACT §1, §5): with no server installed — SQLite file, local
storage, the filesystem Celery broker — the Procfile's processes (gunicorn, `celery -A pixell worker
-B`) process a deploy sent over HTTP. The deploy is sent while no worker runs: it waits in the
database and the broker folder, and runs once the worker starts."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import requests

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

SETUP = """
from accounts.models import User
from agentapps.services import agent_app_create
from organizations.services import api_key_create, organization_create
user = User.objects.create_user(email="embedded@example.com", password="a-long-enough-password-1")
org = organization_create(name="Embedded", owner=user)
app = agent_app_create(organization=org, actor=user, name="embedded-app")
_, raw = api_key_create(organization=org, name="ci")
print("IDS", app.id, raw)
"""

MANIFEST = """version: "1.0"
name: embedded-agent
display_name: Embedded Agent
description: d
author: a
license: MIT
entrypoint: src.main:handler
metadata:
  version: 1.0.0
"""


def _package() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("agent.yaml", MANIFEST)
        zf.writestr("src/main.py", "def handler(context):\n    return {}\n")
        zf.writestr(".env", "LOG_LEVEL=info\n")
    return buffer.getvalue()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(data_dir: Path) -> dict:
    # Nothing of the test run's configuration: the product's embedded defaults only.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("PIXELL_", "DATABASE_", "CELERY_", "REDIS_", "DJANGO_", "AWS_", "MEDIA_", "STATIC_")
        )
        and k not in {"SECRET_KEY", "ALLOWED_HOSTS", "CRON_SECRET", "EMAIL_BACKEND"}
    }
    env.update(DEBUG="true", PIXELL_DATA_DIR=str(data_dir), PATH=f"{BIN}:{env.get('PATH', '')}")
    return env


def _start(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def test_web_and_worker_on_embedded_defaults_process_a_deploy(tmp_path):
    env = _env(tmp_path / "data")
    python = str(BIN / "python")
    subprocess.run(
        [python, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    setup = subprocess.run(
        [python, "manage.py", "shell", "-c", SETUP],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=60,
        capture_output=True,
        text=True,
    )
    _, app_id, api_key = next(
        line for line in setup.stdout.splitlines() if line.startswith("IDS ")
    ).split()
    assert (
        not (tmp_path / "data" / "db.sqlite3").is_symlink()
        and (tmp_path / "data" / "db.sqlite3").exists()
    )

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {api_key}"}
    web = worker = None
    try:
        web = _start(
            [
                str(BIN / "gunicorn"),
                "pixell.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
            ],
            env,
            tmp_path / "web.log",
        )
        for _ in range(100):
            try:
                if requests.get(f"{base}/api/health", timeout=10).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.2)
        else:
            pytest.fail("gunicorn did not start:\n" + (tmp_path / "web.log").read_text()[-3000:])

        accepted = requests.post(
            f"{base}/api/agent-apps/{app_id}/packages/deploy",
            headers=headers,
            data={"version": "1.0.0"},
            files={"file": ("agent.apkg", _package(), "application/octet-stream")},
            timeout=30,
        )
        assert accepted.status_code == 202, accepted.text
        deployment_id = accepted.json()["deployment"]["id"]
        status_url = f"{base}/api/deployments/{deployment_id}"
        time.sleep(1)
        assert (
            requests.get(status_url, headers=headers, timeout=5).json()["deployment"]["status"]
            == "queued"
        )

        worker = _start(
            [
                str(BIN / "celery"),
                "-A",
                "pixell",
                "worker",
                "-B",
                "--loglevel=INFO",
                "--concurrency=1",
            ],
            env,
            tmp_path / "worker.log",
        )
        deadline = time.monotonic() + 90
        status = "queued"
        while time.monotonic() < deadline:
            status = requests.get(status_url, headers=headers, timeout=5).json()["deployment"][
                "status"
            ]
            if status in ("completed", "failed"):
                break
            time.sleep(0.5)
        log = (tmp_path / "worker.log").read_text()[-4000:]
        assert status == "completed", log
        body = requests.get(status_url, headers=headers, timeout=5).json()["deployment"]
        assert body["attempts"] == 1
        assert {s["status"] for s in body["progress"]["steps"]} == {"completed", "skipped"}
    finally:
        _stop(worker)
        _stop(web)
