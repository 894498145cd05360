"""`pixell deploy --env local --wait` of the real Pixell Agent Kit CLI, with an API key, against a live
server (docs/pixell-kit.md §3–§4). The pipeline runs eagerly in the server process right after the
202, so the kit's first --wait poll already sees the outcome and the test takes seconds."""

from __future__ import annotations

import json
import re

import pytest

from agentapps.models import AgentApp, Package
from deployments.models import Deployment
from tests.agentapps.kit import KitUnavailable, build_kit_package, run_kit
from tests.factories import api_key_for

pytestmark = [pytest.mark.kit]


@pytest.fixture(scope="module")
def kit_package(tmp_path_factory):
    try:
        return build_kit_package(tmp_path_factory.mktemp("kit-deploy"))
    except KitUnavailable as exc:  # no package index reachable on a clean machine
        pytest.skip(f"pixell-kit unavailable: {exc}")


@pytest.fixture
def kit_app(kit_server):
    from organizations.services import organization_create
    from tests.factories import UserFactory

    org = organization_create(
        name="Kit Deploy Org", owner=UserFactory(email="kit-deploy@example.com")
    )
    app = AgentApp.objects.for_org(org).create(organization=org, name="Kit Deploy App")
    _, raw_key = api_key_for(org)
    return app, raw_key


def _deploy(kit_server, kit_package, app, key, tmp_path, *extra):
    return run_kit(
        [
            "deploy",
            "-f",
            str(kit_package),
            "--env",
            "local",
            "-a",
            str(app.id),
            "-k",
            key,
            "--wait",
            "--timeout",
            "30",
            *extra,
        ],
        base_url=kit_server.kit_base_url,
        cwd=tmp_path,
    )


def _deployment_id(stdout: str) -> str:
    match = re.search(r"Deployment ID:\s*([0-9a-f-]{36})", stdout)
    assert match, stdout
    return match.group(1)


def test_kit_deploy_wait_status_conflict_and_force(kit_server, kit_app, kit_package, tmp_path):
    app, key = kit_app

    done = _deploy(
        kit_server,
        kit_package,
        app,
        key,
        tmp_path,
        "--release-notes",
        "first",
        "--runtime-env",
        "FOO=bar",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Deployment completed successfully" in done.stdout, done.stdout
    first_id = _deployment_id(done.stdout)
    first = Deployment.all_orgs.get(id=first_id)
    assert (
        first.status == "completed" and first.release_notes == "first" and first.version == "1.2.3"
    )
    from deployments.pipeline import deployment_environment

    # The kit resends the manifest's environment updated with --runtime-env.
    assert deployment_environment(first) == {"LOG_LEVEL": "info", "FOO": "bar"}

    status = run_kit(
        ["status", first_id, "--env", "local", "-k", key, "--json"],
        base_url=kit_server.kit_base_url,
        cwd=tmp_path,
    )
    assert status.returncode == 0, status.stdout + status.stderr
    body = json.loads(status.stdout[status.stdout.index("{") :])
    assert body["deployment"]["id"] == first_id and body["deployment"]["status"] == "completed"

    plain = run_kit(
        ["status", first_id, "--env", "local", "-k", key],
        base_url=kit_server.kit_base_url,
        cwd=tmp_path,
    )
    assert plain.returncode == 0 and "completed" in plain.stdout, plain.stdout + plain.stderr

    again = _deploy(kit_server, kit_package, app, key, tmp_path)
    assert again.returncode == 1
    assert "already exists" in again.stdout and "--force" in again.stdout, again.stdout

    forced = _deploy(kit_server, kit_package, app, key, tmp_path, "--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert "Deployment completed successfully" in forced.stdout
    second = Deployment.all_orgs.get(id=_deployment_id(forced.stdout))
    assert second.status == "completed"
    assert Package.all_orgs.get(id=first.package_id).deleted_at is not None
    assert AgentApp.all_orgs.get(id=app.id).current_package_id == second.package_id


def test_kit_reports_402_with_required_and_available(kit_server, kit_app, kit_package, tmp_path):
    from organizations.models import Organization

    app, key = kit_app
    Organization.objects.filter(pk=app.organization_id).update(credits=0)
    done = _deploy(kit_server, kit_package, app, key, tmp_path)
    assert done.returncode == 1
    assert "INSUFFICIENT CREDITS" in done.stdout and "Required: 1, Available: 0" in done.stdout, (
        done.stdout
    )


def test_kit_wait_reports_a_failed_deployment(kit_server, kit_app, kit_package, tmp_path, settings):
    # A runtime that refuses: the deployment fails and the kit's --wait exits 1 with the error.
    settings.PIXELL_RUNTIME_URL = "http://127.0.0.1:9"  # nothing listens there
    settings.PIXELL_RUNTIME_SECRET = "s"
    settings.PIXELL_RUNTIME_ALLOW_PRIVATE_NETWORKS = True
    settings.PIXELL_DEPLOYMENT_MAX_ATTEMPTS = 1
    from unittest import mock

    from deployments import runtime

    app, key = kit_app
    with mock.patch.object(runtime, "backoff_delay", lambda config, attempt: 0.0):
        done = _deploy(kit_server, kit_package, app, key, tmp_path)
    assert done.returncode == 1, done.stdout
    assert "Deployment failed" in done.stdout and "runtime" in done.stdout.lower(), done.stdout
