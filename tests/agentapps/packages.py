"""Hand-made ``.apkg`` archives for API tests (the real Kit's are in tests/agentapps/kit.py).

``apkg_bytes()`` is a valid package laid out as ``pixell build`` lays it out; keyword arguments make
it invalid in specific ways. Reusable by other apps' tests (deployments)."""

from __future__ import annotations

import io
import json
import os
import zipfile

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.files.uploadedfile import SimpleUploadedFile

BASE_MANIFEST = {
    "version": "1.0",
    "name": "my-agent",
    "display_name": "My Agent",
    "description": "Does things",
    "author": "Ada",
    "license": "MIT",
    "entrypoint": "src.main:handler",
    "runtime": "python3.11",
    "capabilities": ["text-generation"],
    "environment": {"LOG_LEVEL": "info"},
    "metadata": {"version": "1.0.0"},
}


def manifest(version: str = "1.0.0", **changes) -> dict:
    data = json.loads(json.dumps(BASE_MANIFEST))
    data["metadata"]["version"] = version
    for key, value in changes.items():
        if value is ...:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def apkg_bytes(
    version: str = "1.0.0",
    *,
    manifest_data: dict | None = None,
    extra: tuple = (),
    env: str = "LOG_LEVEL=info\n",
    padding: int = 0,
    with_manifest: bool = True,
) -> bytes:
    """A package; ``padding`` adds a stored member of that many random bytes (for size tests)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("src/", b"")
        if with_manifest:
            zf.writestr(
                "agent.yaml", yaml.safe_dump(manifest_data or manifest(version), sort_keys=False)
            )
        zf.writestr(".env", env)
        zf.writestr("src/__init__.py", b"")
        zf.writestr("src/main.py", b"def handler(context):\n    return {'ok': True}\n")
        for name, data in extra:
            zf.writestr(name, data)
        if padding:
            zf.writestr(
                zipfile.ZipInfo("assets/blob.bin"),
                os.urandom(padding),
                compress_type=zipfile.ZIP_STORED,
            )
    return buf.getvalue()


def upload(data: bytes, name: str = "agent.apkg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def ed25519_keypair() -> tuple[Ed25519PrivateKey, str, bytes]:
    """(private key, public key PEM, raw 32-byte public key)."""
    private = Ed25519PrivateKey.generate()
    public = private.public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return private, pem, raw
