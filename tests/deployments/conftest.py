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


def apkg_bytes(version: str = "1.0.0", *, pad_bytes: int = 0, manifest: dict | None = None) -> bytes:
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
            zf.writestr(zipfile.ZipInfo("assets/blob.bin"), os.urandom(pad_bytes), compress_type=zipfile.ZIP_STORED)
    return buffer.getvalue()


def upload(data: bytes, name: str = "agent.apkg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


@pytest.fixture
def app(org, owner):
    return agent_app_create(organization=org, actor=owner, name="mini-agent", description="test app")


@pytest.fixture
def other_app(other_org, other_owner):
    return agent_app_create(organization=other_org, actor=other_owner, name="theirs")


def deploy(client, app, version: str = "1.0.0", *, data: bytes | None = None, headers: dict | None = None, **fields):
    """POST a deploy the way the Kit does (multipart, file named agent.apkg)."""
    body = {"file": upload(data if data is not None else apkg_bytes(version)), **fields}
    if "version" not in fields and version is not None:
        body["version"] = version
    return client.post(
        f"/api/agent-apps/{app.id}/packages/deploy", body, format="multipart", **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in (headers or {}).items()}
    )
