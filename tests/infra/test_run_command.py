"""The README's run command really starts the product: `make run` on the embedded defaults brings
up web on $PORT and on $PIXELL_SECOND_PORT (pixell-sdk's local port) and a Celery worker with beat,
with nothing else in the environment."""

import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.infra.helpers import is_product_var, is_routed

BASE_DIR = Path(__file__).resolve().parents[2]


def _clean_env(**extra: str) -> dict[str, str]:
    # The product's own configuration is removed, so what starts is exactly what a fresh clone gets.
    env = {
        k: v
        for k, v in os.environ.items()
        if not is_product_var(k) and k != "DJANGO_SETTINGS_MODULE"
    }
    env.update(extra)
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        return sock.getsockname()[1]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# One line per request, the application's (text or JSON); gunicorn's access log, which would
# repeat it, is off.
_REQUEST_LINE = re.compile(r"pixell\.request.*GET /api/schema/ 200\b")
_ACCESS_LINE = '"GET /api/schema/ HTTP/1.1" 200'


needs_venv = pytest.mark.skipif(
    not (BASE_DIR / ".venv" / "bin" / "python").exists(),
    reason="make run installs into .venv; run the suite with `make test`",
)


@needs_venv
def test_make_run_refuses_production_without_a_secret_key(tmp_path):
    result = subprocess.run(
        ["make", "-s", "migrate"],
        cwd=BASE_DIR,
        env=_clean_env(DEBUG="false", PIXELL_DATA_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@needs_venv
@pytest.mark.slow
def test_make_run_starts_web_worker_and_beat(tmp_path):
    port, second_port = _free_port(), _free_port()
    log_path = tmp_path / "run.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            ["make", "-s", "run"],
            cwd=BASE_DIR,
            env=_clean_env(
                PORT=str(port),
                PIXELL_SECOND_PORT=str(second_port),
                PIXELL_DATA_DIR=str(tmp_path / "data"),
            ),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: make and the supervisor
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        status = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                status, body = _get(f"{base}/api/schema/")
            except OSError:
                status = None
            output = log_path.read_text(errors="replace")
            # Output passes through the supervisor, so the request's line may trail the response.
            if (
                status == 200
                and " ready." in output
                and "beat: Starting" in output
                and _REQUEST_LINE.search(output)
            ):
                break
            time.sleep(0.5)
        output = log_path.read_text(errors="replace")
        assert process.poll() is None, f"make run exited early:\n{output[-3000:]}"
        assert status == 200, output[-3000:]
        assert body.startswith(b"openapi: 3.")
        assert " ready." in output, "the Celery worker did not report ready:\n" + output[-3000:]
        assert "beat: Starting" in output, "beat did not start:\n" + output[-3000:]
        assert _REQUEST_LINE.search(output), "no request line:\n" + output[-3000:]
        assert _ACCESS_LINE not in output, "each request logged twice:\n" + output[-3000:]
        # The second port serves the same product (pixell-sdk 0.5's `--env local`).
        status, body = _get(f"http://127.0.0.1:{second_port}/api/schema/")
        assert status == 200 and body.startswith(b"openapi: 3.")
        assert "supervise | web started" in output and "supervise | worker started" in output
        # The embedded defaults put everything under the data directory.
        data = tmp_path / "data"
        assert (data / "db.sqlite3").exists() and (data / "broker" / "queue").is_dir()
        assert (data / "static" / "drf_spectacular_sidecar").is_dir()  # collectstatic ran

        if is_routed("/api/health"):
            status, body = _get(f"{base}/api/health")
            assert status == 200, body
            assert b'"healthy"' in body
    finally:
        _stop_group(process)


def _stop_group(process: subprocess.Popen) -> None:
    """Stop make and the supervisor (which stops gunicorn and celery): the whole process group."""
    for sig, grace in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            process.poll()  # reap make itself
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            continue
        break
    process.wait(timeout=10)


def test_ci_script_is_executable_bash_that_stops_on_errors():
    script = BASE_DIR / ".ci" / "run"
    assert os.access(script, os.X_OK)
    assert "set -euo pipefail" in script.read_text()
    subprocess.run(["bash", "-n", str(script)], check=True)
