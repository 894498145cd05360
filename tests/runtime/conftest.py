"""A real local runtime for the tests that run real agents, and agents built by the real pixell-sdk.

The runtime server runs in a thread of the test process (the same code ``manage.py runtime``
serves); agents are real processes. Every agent here has the pixell-sdk template's requirements,
so one virtualenv serves them all, kept across runs under /tmp (PIXELL_RUNTIME_TEST_VENVS to move
it): only the first run on a machine installs anything.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import threading
from pathlib import Path

import pytest
from django.conf import settings

from runtime.server import build
from runtime.server.agents import Limits
from tests.agentapps.kit import KitUnavailable, sdk_build, sdk_init, sdk_write_env
from tests.kit_server import kit_live_server, kit_server  # noqa: F401 - fixtures

VENVS = Path(os.environ.get("PIXELL_RUNTIME_TEST_VENVS", "/tmp/pixell-runtime-test-venvs"))


@pytest.fixture(scope="session")
def local_runtime():
    data_dir = Path(tempfile.mkdtemp(prefix="pixell-runtime-"))
    secret = secrets.token_urlsafe(32)
    server = build(
        port=0,
        secret=secret,
        data_dir=data_dir,
        venvs_dir=VENVS,
        limits=Limits(memory_mb=1024, start_timeout_s=60),
        installer_env=settings.PIXELL_RUNTIME_INSTALLER_ENV,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    server.secret_text = secret
    yield server
    server.shutdown()
    server.supervisor.shutdown()
    server.server_close()


@pytest.fixture
def runtime_on(settings, kit_server, local_runtime):
    """The pipeline and the invoke API pointed at the local runtime, as `make run` does."""
    settings.PIXELL_RUNTIME_URL = local_runtime.url
    settings.PIXELL_RUNTIME_SECRET = local_runtime.secret_text
    settings.PIXELL_RUNTIME_ALLOW_PRIVATE_NETWORKS = True  # loopback runtime, also with DEBUG off
    settings.PIXELL_PUBLIC_URL = kit_server.url  # packageUrl: the runtime downloads from us
    settings.PIXELL_RUNTIME_HEALTH_INTERVAL_SECONDS = 0.2
    settings.PIXELL_RUNTIME_HEALTH_TIMEOUT_SECONDS = 120
    return local_runtime


HANDLER = """
import os, time

def handler(context):
    action, data = context["action"], context["data"]
    if action == "env":
        return dict(os.environ)
    if action == "fail":
        raise ValueError("the agent refuses")
    if action == "sleep":
        time.sleep(data.get("seconds", 5))
    return {"version": VERSION, "echo": context}
"""


def build_agent(root: Path, *, version: str, main: str | None = None, env=None) -> Path:
    """An agent built by the real `pixell init` + `pixell build`, its handler replaced."""
    root.mkdir(parents=True, exist_ok=True)
    try:
        project = sdk_init(root, "demo-agent")
    except KitUnavailable as exc:  # no package index reachable on a clean machine
        pytest.skip(f"pixell-sdk unavailable: {exc}")
    manifest = project / "agent.yaml"
    manifest.write_text(manifest.read_text().replace("version: 0.1.0", f"version: {version}"))
    source = main if main is not None else f"VERSION = {version!r}\n" + HANDLER
    (project / "src" / "main.py").write_text(source)
    sdk_write_env(project, env or {"LOG_LEVEL": "info", "PACKAGED": "from-dotenv"})
    return sdk_build(project, root / "dist")


@pytest.fixture(scope="session")
def agents(tmp_path_factory):
    """The versions the tests deploy, built once per session."""
    root = tmp_path_factory.mktemp("agents")
    return {
        "0.1.0": build_agent(root / "v1", version="0.1.0"),
        "0.2.0": build_agent(root / "v2", version="0.2.0"),
        "0.3.0-broken": build_agent(
            root / "v3",
            version="0.3.0",
            main="import module_that_is_not_there\n\ndef handler(c):\n    return c\n",
        ),
        "0.4.0-hog": build_agent(
            root / "v4",
            version="0.4.0",
            # Imported at start: 4 GiB is far past the runtime's 1 GiB address-space limit.
            main="hog = bytearray(4 * 1024 ** 3)\n\ndef handler(c):\n    return c\n",
        ),
    }
