"""The embedded default end to end (docs/CONTRACT.md §1, §5): with no server installed — SQLite file, local
storage, the filesystem Celery broker — the Procfile's processes (gunicorn, `celery -A pixell worker
-B`) process a deploy sent over HTTP. The deploy is sent while no worker runs: it waits in the
database and the broker folder, and runs once the worker starts. The soak test holds the same stack
to "nothing falls over" under concurrent signups, resets and deploys with torn message files planted
in the queue (kombu's own filesystem transport fails it: its worker exits on the first empty file).

Each test sets its own broker and database environment (the embedded defaults), whatever CI sets."""

from __future__ import annotations

import io
import json
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
from django.core.management import call_command
call_command("migrate", interactive=False, verbosity=0)
from accounts.models import User
from organizations.models import Organization
from agentapps.services import agent_app_create
from organizations.services import api_key_create, organization_create
user = User.objects.create_user(email="embedded@example.com", password="a-long-enough-password-1")
org = organization_create(name="Embedded", owner=user)
app = agent_app_create(organization=org, actor=user, name="embedded-app")
_, raw = api_key_create(organization=org, name="ci")
Organization.objects.filter(pk=org.pk).update(credits=10000)  # the soak deploys a lot
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
  version: {version}
"""


def _package(version: str = "1.0.0") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("agent.yaml", MANIFEST.format(version=version))
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


def _stop(process: subprocess.Popen | None, *, sig: int = signal.SIGTERM) -> None:
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, sig)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A data directory migrated by the product itself, with a user, an app and an API key: made
    once (migrations take seconds), copied for each test."""
    template = tmp_path_factory.mktemp("embedded-template") / "data"
    setup = subprocess.run(
        [str(BIN / "python"), "manage.py", "shell", "-c", SETUP],
        cwd=ROOT,
        env=_env(template),
        check=True,
        timeout=180,
        capture_output=True,
        text=True,
    )
    _, app_id, api_key = next(
        line for line in setup.stdout.splitlines() if line.startswith("IDS ")
    ).split()
    return template, app_id, api_key


def _copy_prepared(prepared, tmp_path) -> tuple[Path, str, str]:
    import shutil

    template, app_id, api_key = prepared
    data = tmp_path / "data"
    shutil.copytree(template, data)
    return data, app_id, api_key


def test_web_and_worker_on_embedded_defaults_process_a_deploy(tmp_path, prepared):
    _, app_id, api_key = _copy_prepared(prepared, tmp_path)
    env = _env(tmp_path / "data")
    env["PIXELL_LOG_FORMAT"] = "json"  # as with DEBUG off: the worker's lines are parsed below
    assert (
        not (tmp_path / "data" / "db.sqlite3").is_symlink()
        and (tmp_path / "data" / "db.sqlite3").exists()
    )

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {api_key}"}
    request_id = f"ci-trace-{port}"
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
            headers={**headers, "X-Request-ID": request_id},
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
        assert accepted.headers["X-Request-ID"] == request_id
        # The worker's log lines for this deployment carry the id of the request that queued it.
        worker_lines = [
            json.loads(line)
            for line in (tmp_path / "worker.log").read_text().splitlines()
            if line.startswith("{")
        ]
        traced = [line for line in worker_lines if line.get("deployment_id") == deployment_id]
        assert traced, log
        assert {line.get("request_id") for line in traced} == {request_id}
    finally:
        _stop(worker)
        _stop(web)


# --- soak: the embedded stack under concurrent load, with torn message files planted ------------

SOAK_SECONDS = float(os.environ.get("PIXELL_SOAK_SECONDS", "10"))


def _plant_bad_messages(queue: Path, stop, planted: list[str]) -> None:
    """Drop what kombu's own writer leaves for a reader, and worse, into the live queue folder."""
    torn = b'{"body": "eyJhcmdzIjogWyJ4Il19", "content-encoding": "utf-8", "prope'
    kinds = [b"", torn, b"\x00\xff not json at all", b'{"json": "but not a message"}']
    number = 0
    while not stop.is_set():
        name = f"{time.monotonic_ns():020d}_planted-{number}.celery.msg"
        path = queue / name
        # Like kombu's writer: the file exists (empty) before its content arrives.
        with open(path, "wb") as handle:
            handle.flush()
            stop.wait(0.05)
            handle.write(kinds[number % len(kinds)])
        planted.append(name)
        number += 1
        stop.wait(0.4)


def _mail_recipients(mail_dir: Path) -> list[str]:
    recipients = []
    for path in mail_dir.glob("*.log") if mail_dir.exists() else ():
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("To: "):
                recipients.append(line[4:].strip())
    return recipients


def test_soak_concurrent_signups_resets_and_deploys_with_torn_messages(tmp_path, prepared):
    """The issue's "Done when", bounded: for SOAK_SECONDS concurrent signups, password resets and
    deploys over HTTP against gunicorn + `celery worker -B` on the embedded defaults, while torn,
    empty and garbage message files land in the broker's queue: no process dies, no 500, every
    accepted deployment ends completed, every mail is sent."""
    import random
    import threading
    from concurrent.futures import ThreadPoolExecutor

    data, app_id, api_key = _copy_prepared(prepared, tmp_path)
    mail_dir = tmp_path / "mail"
    env = _env(data)
    env.update(
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=str(mail_dir),
        PIXELL_RATE_LIMIT_ANONYMOUS="100000/h",
        PIXELL_RATE_LIMIT_AUTHENTICATED="100000/h",
    )

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {api_key}"}
    web = worker = None
    stop = threading.Event()
    planted: list[str] = []
    try:
        # The Procfile's web flags (gthread, 2 × 4) on a free port, and its worker with beat.
        web = _start(
            [
                str(BIN / "gunicorn"),
                "pixell.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--worker-class",
                "gthread",
                "--workers",
                "2",
                "--threads",
                "4",
                "--no-control-socket",
            ],
            env,
            tmp_path / "web.log",
        )
        worker = _start(
            [str(BIN / "celery"), "-A", "pixell", "worker", "-B", "--loglevel=INFO"],
            env,
            tmp_path / "worker.log",
        )
        for _ in range(150):
            try:
                if requests.get(f"{base}/api/health", timeout=10).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.2)
        else:
            pytest.fail("gunicorn did not start:\n" + (tmp_path / "web.log").read_text()[-3000:])

        planter = threading.Thread(
            target=_plant_bad_messages, args=(data / "broker" / "queue", stop, planted)
        )
        planter.start()

        lock = threading.Lock()
        statuses: list[tuple[str, int, str]] = []
        signed_up: list[str] = ["embedded@example.com"]
        resets: list[str] = []
        deployments: list[str] = []
        counter = iter(range(1_000_000))
        deadline = time.monotonic() + SOAK_SECONDS

        def record(kind, response):
            with lock:
                statuses.append((kind, response.status_code, response.text[:300]))

        def signup():
            email = f"soak-{next(counter)}@example.com"
            response = requests.post(
                f"{base}/api/auth/signup",
                json={"email": email, "password": "a-long-enough-password-1"},
                timeout=60,
            )
            record("signup", response)
            if response.status_code == 201:
                with lock:
                    signed_up.append(email)

        def reset():
            with lock:
                fresh = [e for e in signed_up if e not in resets]
                email = random.choice(fresh) if fresh else None
                if email:
                    resets.append(email)  # once per address: under the per-recipient quota
            if email is None:
                return
            response = requests.post(
                f"{base}/api/auth/password/reset", json={"email": email}, timeout=60
            )
            record("reset", response)

        def deploy():
            version = f"1.0.{next(counter)}"
            response = requests.post(
                f"{base}/api/agent-apps/{app_id}/packages/deploy",
                headers=headers,
                data={"version": version},
                files={"file": ("agent.apkg", _package(version), "application/octet-stream")},
                timeout=60,
            )
            record("deploy", response)
            if response.status_code == 202:
                with lock:
                    deployments.append(response.json()["deployment"]["id"])

        def client(seed):
            actions = [signup, reset, deploy]
            index = seed
            while time.monotonic() < deadline:
                actions[index % len(actions)]()
                index += 1

        with ThreadPoolExecutor(max_workers=6) as pool:
            list(pool.map(client, range(6)))
        stop.set()
        planter.join()

        # Everything accepted finishes: deployments end, mails go out (the worker drains).
        def terminal_statuses():
            found = {}
            for deployment_id in deployments:
                body = requests.get(f"{base}/api/deployments/{deployment_id}", headers=headers)
                found[deployment_id] = body.json()["deployment"]["status"]
            return found

        signups = [s for s in statuses if s[0] == "signup" and s[1] == 201]
        expected_mails = sorted(signed_up[1:] + resets)
        drain_deadline = time.monotonic() + 60
        while time.monotonic() < drain_deadline:
            states = terminal_statuses()
            mails = sorted(_mail_recipients(mail_dir))
            if (
                all(s in ("completed", "failed", "cancelled") for s in states.values())
                and mails == expected_mails
            ):
                break
            time.sleep(1)
        worker_log = (tmp_path / "worker.log").read_text(errors="replace")
        web_log = (tmp_path / "web.log").read_text(errors="replace")

        assert web.poll() is None, "gunicorn died:\n" + web_log[-3000:]
        assert worker.poll() is None, "the worker died:\n" + worker_log[-3000:]
        assert "Unrecoverable error" not in worker_log, worker_log[-3000:]
        server_errors = [s for s in statuses if s[1] >= 500]
        assert server_errors == [], server_errors[:5]
        assert {kind for kind, _, _ in statuses} == {"signup", "reset", "deploy"}
        assert signups and resets and deployments, statuses[:5]
        unexpected = [s for s in statuses if s[1] not in {201, 200, 202}]
        assert unexpected == [], unexpected[:5]
        assert set(states.values()) == {"completed"}, states
        assert sorted(_mail_recipients(mail_dir)) == expected_mails
        # Every planted file was set aside (none is left in the queue), each with one warning.
        rejected = {p.name for p in (data / "broker" / "rejected").iterdir()}
        assert planted and set(planted) <= rejected
        assert worker_log.count("set aside") == len(planted), worker_log[-3000:]
    finally:
        stop.set()
        # Everything is asserted (or failed) by now: no need to wait for graceful shutdowns.
        _stop(worker, sig=signal.SIGKILL)
        _stop(web, sig=signal.SIGKILL)
