"""Fixtures for deployments tests: an app, package bytes, and a deploy helper."""

import io
import os
import zipfile

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile

from agentapps.services import agent_app_create

MANIFEST = {
    "version": "1.0",
    "name": "mini-agent",
    "display_name": "Mini Agent",
    "description": "Minimal test agent",
    "author": "Pixell Tests",
    "license": "MIT",
    "entrypoint": "src.main:handler",
    "runtime": "python3.11",
    "environment": {"LOG_LEVEL": "info"},
}


def apkg_bytes(
    version: str = "1.0.0", *, pad_bytes: int = 0, manifest: dict | None = None
) -> bytes:
    """A valid package as the kit lays it out; ``pad_bytes`` of incompressible data make it bigger."""
    data = dict(manifest or MANIFEST)
    data["metadata"] = {"version": version}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("agent.yaml", yaml.safe_dump(data, sort_keys=False))
        zf.writestr(".env", "LOG_LEVEL=info\n")
        zf.writestr("src/__init__.py", b"")
        zf.writestr("src/main.py", b"def handler(context):\n    return {'ok': True}\n")
        if pad_bytes:
            zf.writestr(
                zipfile.ZipInfo("assets/blob.bin"),
                os.urandom(pad_bytes),
                compress_type=zipfile.ZIP_STORED,
            )
    return buffer.getvalue()


def upload(data: bytes, name: str = "agent.apkg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


@pytest.fixture
def app(org, owner):
    return agent_app_create(
        organization=org, actor=owner, name="mini-agent", description="test app"
    )


@pytest.fixture
def other_app(other_org, other_owner):
    return agent_app_create(organization=other_org, actor=other_owner, name="theirs")


def deploy(
    client,
    app,
    version: str = "1.0.0",
    *,
    data: bytes | None = None,
    headers: dict | None = None,
    **fields,
):
    """POST a deploy the way the Kit does (multipart, file named agent.apkg)."""
    body = {"file": upload(data if data is not None else apkg_bytes(version)), **fields}
    if "version" not in fields and version is not None:
        body["version"] = version
    return client.post(
        f"/api/agent-apps/{app.id}/packages/deploy",
        body,
        format="multipart",
        **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in (headers or {}).items()},
    )


# --- a real local HTTP server (webhook receiver, runtime stand-in) -----------------------------

import json as _json  # noqa: E402
import threading  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402


class Recorder:
    """Answers requests from a script and records them.

    ``responses``: a list of (status, body dict | bytes) used in order (the last one repeats), or a
    callable(request_dict) -> (status, body). Recorded requests: method, path, headers, body bytes.
    """

    def __init__(self):
        self.requests: list[dict] = []
        self.responses: list | None = [(200, {"ok": True})]
        self.handler = None
        self.lock = threading.Lock()
        self.url = ""

    def answer(self, request: dict):
        with self.lock:
            self.requests.append(request)
            if self.handler is not None:
                return self.handler(request)
            index = min(len(self.requests) - 1, len(self.responses) - 1)
            return self.responses[index]


def _make_handler(recorder: Recorder):
    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, payload = recorder.answer(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body,
                }
            )
            data = payload if isinstance(payload, bytes) else _json.dumps(payload).encode()
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", recorder.url + "/elsewhere")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture
def http_server():
    recorder = Recorder()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(recorder))
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield recorder
    server.shutdown()
    server.server_close()


def stored_package_files(settings) -> set[str]:
    from pathlib import Path

    root = Path(settings.MEDIA_ROOT) / "packages"
    return {str(p) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


from tests.kit_server import (  # noqa: E402,F401  (live server on the kit's port 4000)
    kit_live_server,
    kit_server,
)
