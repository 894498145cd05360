"""The pixell-sdk 0.5 journey with the real CLI (its own virtualenv, tests/agentapps/kit.py) against a
live server: `pixell init` → the `.env` its build requires → `pixell build` → `pixell deploy --env
local --wait --runtime-env K=V` → the value is in the deployment's environment → `pixell secrets
set/get/list/delete/delete-all` round-trip. The pipeline runs eagerly in the server process, so the
first --wait poll already sees the outcome."""

from __future__ import annotations

import json
import re
import zipfile

import pytest

from agentapps.models import AgentApp
from agentapps.selectors import app_secrets_get
from deployments.models import Deployment
from tests.agentapps.kit import KitUnavailable, build_sdk_package, sdk_deploy, sdk_secrets
from tests.factories import api_key_for

pytestmark = [pytest.mark.kit]


@pytest.fixture(scope="module")
def sdk_package(tmp_path_factory):
    try:
        return build_sdk_package(tmp_path_factory.mktemp("sdk"), env={"LOG_LEVEL": "info"})
    except KitUnavailable as exc:  # no package index reachable on a clean machine
        pytest.skip(f"pixell-sdk unavailable: {exc}")


@pytest.fixture
def sdk_app(kit_server):
    from organizations.services import organization_create
    from tests.factories import UserFactory

    org = organization_create(name="SDK Org", owner=UserFactory(email="sdk@example.com"))
    app = AgentApp.objects.for_org(org).create(organization=org, name="SDK App")
    _, raw_key = api_key_for(org)
    return app, raw_key


def _deployment_id(stdout: str) -> str:
    match = re.search(r"Deployment ID:\s*([0-9a-f-]{36})", stdout)
    assert match, stdout
    return match.group(1)


def test_sdk_builds_a_package_holding_its_env(sdk_package):
    with zipfile.ZipFile(sdk_package) as zf:
        assert "LOG_LEVEL=info" in zf.read(".env").decode()
        assert "agent.yaml" in zf.namelist()


def test_sdk_deploy_wait_with_runtime_env_then_secrets(kit_server, sdk_app, sdk_package):
    from deployments.pipeline import deployment_environment

    app, key = sdk_app
    url = kit_server.sdk_base_url
    done = sdk_deploy(
        sdk_package,
        app_id=str(app.id),
        api_key=key,
        base_url=url,
        runtime_env={"GREETING": "hello", "MODE": "a=b"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Deployment completed successfully" in done.stdout, done.stdout
    deployment = Deployment.all_orgs.get(id=_deployment_id(done.stdout))
    assert deployment.status == "completed" and deployment.version == "0.1.0"
    # `pixell init`'s manifest has `environment: {}`; --runtime-env overlays it (values may hold '=').
    assert deployment_environment(deployment) == {"GREETING": "hello", "MODE": "a=b"}

    def secrets(*args, stdin=None):
        return sdk_secrets(*args, app_id=str(app.id), api_key=key, base_url=url, stdin=stdin)

    saved = secrets("set", "-s", "OPENAI_API_KEY=sk-sdk", "-s", "DEBUG=false", stdin="y\n")
    assert saved.returncode == 0, saved.stdout + saved.stderr
    assert app_secrets_get(agent_app=app) == {"OPENAI_API_KEY": "sk-sdk", "DEBUG": "false"}

    got = secrets("get", "OPENAI_API_KEY")
    assert got.returncode == 0, got.stdout + got.stderr
    assert got.stdout.strip() == "sk-sdk"

    listed = secrets("list", "--format", "json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert json.loads(listed.stdout[listed.stdout.index("{") :])["secrets"] == {
        "OPENAI_API_KEY": "sk-sdk",
        "DEBUG": "false",
    }

    removed = secrets("delete", "DEBUG", "--force")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert app_secrets_get(agent_app=app) == {"OPENAI_API_KEY": "sk-sdk"}
    assert secrets("get", "DEBUG").returncode == 3  # NOT FOUND

    wiped = secrets("delete-all", "--confirm", stdin="y\n")
    assert wiped.returncode == 0, wiped.stdout + wiped.stderr
    assert app_secrets_get(agent_app=app) == {}


def test_sdk_deploy_reports_402(kit_server, sdk_app, sdk_package):
    from organizations.models import Organization

    app, key = sdk_app
    Organization.objects.filter(pk=app.organization_id).update(credits=0)
    done = sdk_deploy(sdk_package, app_id=str(app.id), api_key=key, base_url=kit_server.url)
    assert done.returncode == 1
    assert "Required: 1, Available: 0" in done.stdout, done.stdout
