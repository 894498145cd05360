"""The real Pixell Agent Kit CLI against us, unchanged (docs/pixell-kit.md): a package built by
`pixell build` validates and uploads; `pixell secrets` drives the secrets API over HTTP on the
kit's own http://localhost:4000 (tests/kit_server.py)."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from agentapps.apkg import validate_apkg
from agentapps.models import AgentApp, Package
from agentapps.selectors import app_secrets_get
from tests.agentapps.kit import KitUnavailable, build_kit_package, run_kit
from tests.factories import api_key_for

pytestmark = [pytest.mark.kit]


@pytest.fixture(scope="module")
def kit_package(tmp_path_factory):
    try:
        return build_kit_package(tmp_path_factory.mktemp("kit"))
    except KitUnavailable as exc:  # no package index reachable on a clean machine
        pytest.skip(f"pixell-kit unavailable: {exc}")


@pytest.mark.django_db
def test_a_kit_built_package_validates_and_uploads(owner_client, app, org, kit_package, stored):
    data = kit_package.read_bytes()
    assert validate_apkg(kit_package, max_bytes=100 * 1024 * 1024).valid

    response = owner_client.post(
        f"/api/agent-apps/{app.id}/packages",
        {
            "file": SimpleUploadedFile("agent.apkg", data, content_type="application/octet-stream"),
            "version": "1.2.3",
        },
        format="multipart",
    )

    assert response.status_code == 201, response.json()
    body = response.json()["package"]
    assert (body["version"], body["size"], body["sha256"]) == (
        "1.2.3",
        len(data),
        hashlib.sha256(data).hexdigest(),
    )
    assert body["warnings"] == []
    assert stored.read(Package.all_orgs.get().file.name) == data
    assert Package.all_orgs.get().manifest["name"] == "mini-agent"


@pytest.fixture
def kit_app(kit_server):
    from organizations.services import organization_create
    from tests.factories import UserFactory

    org = organization_create(name="Kit Org", owner=UserFactory(email="kit@example.com"))
    app = AgentApp.objects.for_org(org).create(organization=org, name="Kit App")
    _, raw_key = api_key_for(org)
    return app, raw_key


def test_pixell_secrets_commands_work_against_us(kit_server, kit_app, tmp_path):
    app, key = kit_app

    def kit(*args, stdin=None):
        return run_kit(
            ["secrets", *args, "-a", str(app.id), "-k", key, "--env", "local"],
            base_url=kit_server.kit_base_url,
            cwd=tmp_path,
            stdin=stdin,
            timeout=60,
        )

    done = kit("set", "-s", "OPENAI_API_KEY=sk-x", "-s", "DEBUG=false", stdin="y\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2" in done.stdout  # "Total secrets: 2"
    assert app_secrets_get(agent_app=app) == {"OPENAI_API_KEY": "sk-x", "DEBUG": "false"}

    listed = kit("list", "--format", "json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert json.loads(listed.stdout[listed.stdout.index("{") :]) == {
        "secrets": {"DEBUG": "false", "OPENAI_API_KEY": "sk-x"}
    }

    got = kit("get", "OPENAI_API_KEY")
    assert got.returncode == 0 and "sk-x" in got.stdout

    updated = kit("update", "DEBUG", "true")
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert app_secrets_get(agent_app=app)["DEBUG"] == "true"

    deleted = kit("delete", "DEBUG", "--force")
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert app_secrets_get(agent_app=app) == {"OPENAI_API_KEY": "sk-x"}

    missing = kit("delete", "NOPE", "--force")
    assert missing.returncode == 3  # the kit's NOT FOUND exit code

    not_there = kit("get", "NOPE")
    assert not_there.returncode == 3

    all_gone = kit("delete-all", "--confirm", stdin="y\n")
    assert all_gone.returncode == 0, all_gone.stdout + all_gone.stderr
    assert app_secrets_get(agent_app=app) == {}


def test_pixell_secrets_reports_bad_credentials_and_unknown_apps(kit_server, kit_app, tmp_path):
    app, key = kit_app

    def kit(app_id, api_key):
        return run_kit(
            ["secrets", "list", "-a", app_id, "-k", api_key, "--env", "local"],
            base_url=kit_server.kit_base_url,
            cwd=tmp_path,
            timeout=60,
        )

    assert kit(str(app.id), "pac_wrong").returncode == 2  # 401 → AUTHENTICATION ERROR
    assert kit("00000000-0000-0000-0000-000000000000", key).returncode == 3  # 404 → NOT FOUND
