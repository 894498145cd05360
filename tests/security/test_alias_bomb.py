"""A YAML alias bomb in agent.yaml is refused quickly, with nothing stored or charged, on upload,
deploy and dry run (docs/DECISIONS.md "YAML anchors and aliases")."""

import base64
import io
import os
import time
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from agentapps.models import Package
from agentapps.services import agent_app_create
from billing.models import CreditTransaction
from deployments.models import Deployment
from organizations.models import Organization

pytestmark = pytest.mark.django_db

MANIFEST = """\
version: "1.0"
name: mini-agent
display_name: Mini Agent
description: bomb
author: Tests
license: MIT
entrypoint: src.main:handler
runtime: python3.11
metadata: {version: 1.0.0}
x-pad: &s "%s"
x-blob: [%s]
"""


def bomb(aliases: int = 1000, pad: int = 50_000) -> bytes:
    # Random text: the zip-bomb ratio check must not be what refuses it.
    text = MANIFEST % (
        base64.b64encode(os.urandom(pad))[:pad].decode(),
        ", ".join(["*s"] * aliases),
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("agent.yaml", text)
        zf.writestr("src/__init__.py", b"")
        zf.writestr("src/main.py", b"def handler(context):\n    return {}\n")
    return buffer.getvalue()


@pytest.fixture
def app(org, owner):
    return agent_app_create(organization=org, actor=owner, name="mini-agent", description="t")


def _post(client, app, path, **fields):
    return client.post(
        f"/api/agent-apps/{app.id}/{path}",
        {
            "file": SimpleUploadedFile("agent.apkg", bomb(), "application/octet-stream"),
            "version": "1.0.0",
            **fields,
        },
        format="multipart",
    )


def _stored_files(settings) -> set:
    from pathlib import Path

    root = Path(settings.MEDIA_ROOT) / "packages"
    return {str(p) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def _nothing_stored(org, credits, settings, before):
    assert not Package.all_orgs.exists()
    assert not Deployment.objects.for_org(org).exists()
    assert Organization.objects.get(pk=org.pk).credits == credits
    assert not CreditTransaction.objects.for_org(org).filter(type="usage").exists()
    # Other tests of the run may have left packages in the shared media root: compare.
    assert _stored_files(settings) == before


@pytest.mark.parametrize("path", ["packages", "packages/deploy"])
def test_upload_and_deploy_refuse_the_bomb_fast(owner_client, app, org, settings, path):
    credits = Organization.objects.get(pk=org.pk).credits
    before = _stored_files(settings)
    owner_client.get("/api/organizations/current")  # warm up: time the refusal, not the imports
    started = time.perf_counter()
    response = _post(owner_client, app, path)
    elapsed = time.perf_counter() - started
    assert response.status_code == 400, response.content[:300]
    assert any("anchor" in r for r in response.json()["details"]), response.json()
    assert elapsed < 1.0, elapsed
    _nothing_stored(org, credits, settings, before)


def test_dry_run_reports_the_bomb_fast(owner_client, app, org, settings):
    credits = Organization.objects.get(pk=org.pk).credits
    before = _stored_files(settings)
    owner_client.get("/api/organizations/current")  # warm up: time the refusal, not the imports
    started = time.perf_counter()
    response = _post(owner_client, app, "packages/deploy", dry_run="true")
    elapsed = time.perf_counter() - started
    # A dry run answers every verdict in its own shape (docs/API.md §5): valid false with the reason.
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False and any("anchor" in e for e in body["errors"])
    assert elapsed < 1.0, elapsed
    _nothing_stored(org, credits, settings, before)


def test_a_lone_scalar_anchor_is_refused_too():
    from agentapps.apkg import validate_apkg

    result = validate_apkg(io.BytesIO(bomb(aliases=1, pad=10)), max_bytes=10**6)
    assert not result.valid
    assert any("anchor" in e for e in result.errors)
