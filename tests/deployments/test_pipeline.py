"""The pipeline's steps, its state machine, refunds and the runtime contract (docs/CONTRACT.md §5)."""

import json

import pytest
from django.core.files.storage import default_storage

from agentapps.models import AgentApp, Package, PackageStatus
from agentapps.services import app_secrets_replace
from billing.models import CreditTransaction
from deployments import queue
from deployments.models import (
    Deployment,
    DeploymentStatus,
    DeploymentStep,
    StepStatus,
    WebhookDelivery,
)
from deployments.pipeline import package_metadata_key
from organizations.models import Organization
from tests.deployments.conftest import apkg_bytes, deploy
from usage.models import UsageEvent

pytestmark = pytest.mark.django_db


def accept(client, app, version="1.0.0", **fields) -> Deployment:
    """A deploy accepted but not processed (its nudge is not run)."""
    response = deploy(client, app, version, **fields)
    assert response.status_code == 202, response.json()
    return Deployment.all_orgs.get(id=response.json()["deployment"]["id"])


def run(deployment) -> Deployment:
    result = queue.deployment_process(deployment_id=deployment.id)
    assert result is not None
    return Deployment.all_orgs.get(id=deployment.id)


def steps(deployment) -> dict:
    return {s.name: s for s in DeploymentStep.objects.filter(deployment=deployment)}


def refunds(org):
    return CreditTransaction.objects.for_org(org).filter(type="refund")


def test_success_completes_every_step_and_finalizes(owner_client, app, org):
    deployment = run(accept(owner_client, app))

    assert deployment.status == DeploymentStatus.COMPLETED
    assert deployment.started_at and deployment.completed_at and deployment.error is None
    assert deployment.attempts == 1
    by_name = steps(deployment)
    assert [
        by_name[n].status
        for n in ("validate_package", "upload_to_s3", "generate_metadata", "finalize")
    ] == ["completed"] * 4
    assert by_name["notify_runtime"].status == StepStatus.SKIPPED  # PIXELL_RUNTIME_URL unset
    assert all(s.started_at and s.completed_at for s in by_name.values())
    package = Package.all_orgs.get(id=deployment.package_id)
    assert package.status == PackageStatus.READY
    assert AgentApp.all_orgs.get(id=app.id).current_package_id == package.id
    event = UsageEvent.objects.for_org(org).get(type="deployment")
    assert event.credits == deployment.cost and event.agent_app_id == app.id
    assert not refunds(org).exists()


def test_generate_metadata_stores_a_document_beside_the_package(owner_client, app):
    deployment = run(accept(owner_client, app))
    package = Package.all_orgs.get(id=deployment.package_id)
    key = package_metadata_key(package)
    assert deployment.metadata["package_metadata_key"] == key
    with default_storage.open(key) as handle:
        document = json.load(handle)
    assert document["sha256"] == package.sha256
    assert document["version"] == "1.0.0"
    assert document["manifest"]["name"] == "mini-agent"
    assert "warnings" in deployment.metadata


def test_warnings_reach_the_deployment_metadata(owner_client, app):
    import io
    import zipfile

    base = apkg_bytes("1.0.0")
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(base)) as src, zipfile.ZipFile(buffer, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == ".env":
                data = b"OPENAI_API_KEY=sk-abcdefghijklmnopqrstuvwxyz0123456789\n"
            dst.writestr(item, data)
    deployment = run(accept(owner_client, app, data=buffer.getvalue()))
    assert deployment.status == "completed"
    assert deployment.metadata["warnings"], deployment.metadata


def _fails_and_refunds_once(deployment, org, step_name, fragment):
    deployment = Deployment.all_orgs.get(id=deployment.id)
    assert deployment.status == DeploymentStatus.FAILED
    assert fragment in deployment.error
    step = steps(deployment)[step_name]
    assert step.status == StepStatus.FAILED and fragment in step.error
    rows = list(refunds(org))
    assert len(rows) == 1
    assert rows[0].amount == deployment.cost
    assert rows[0].reference == f"deployment:{deployment.id}:refund"
    assert Organization.objects.get(pk=org.pk).credits == 100
    assert Package.all_orgs.get(id=deployment.package_id).status == PackageStatus.FAILED


def test_corrupted_stored_bytes_fail_validation_and_refund(owner_client, app, org):
    deployment = accept(owner_client, app)
    name = Package.all_orgs.get(id=deployment.package_id).file.name
    default_storage.delete(name)
    default_storage.save(name, __import__("io").BytesIO(b"garbage"))
    run(deployment)
    _fails_and_refunds_once(deployment, org, "validate_package", "Package validation failed")


def test_a_sha256_mismatch_fails_upload_verification(owner_client, app, org):
    deployment = accept(owner_client, app)
    Package.all_orgs.filter(id=deployment.package_id).update(sha256="0" * 64)
    run(deployment)
    _fails_and_refunds_once(deployment, org, "upload_to_s3", "does not match")


def test_a_missing_file_fails(owner_client, app, org):
    deployment = accept(owner_client, app)
    default_storage.delete(Package.all_orgs.get(id=deployment.package_id).file.name)
    run(deployment)
    _fails_and_refunds_once(deployment, org, "validate_package", "missing")


def test_a_failed_packages_version_is_free_again(
    owner_client, app, org, django_capture_on_commit_callbacks
):
    deployment = accept(owner_client, app)
    Package.all_orgs.filter(id=deployment.package_id).update(sha256="0" * 64)
    run(deployment)
    with django_capture_on_commit_callbacks(execute=True):
        again = deploy(owner_client, app, "1.0.0")
    assert again.status_code == 202
    assert Deployment.all_orgs.get(id=again.json()["deployment"]["id"]).status == "completed"


def test_failing_twice_refunds_once(owner_client, app, org):
    deployment = accept(owner_client, app)
    assert queue.deployment_fail(deployment_id=deployment.id, error="first") is True
    assert queue.deployment_fail(deployment_id=deployment.id, error="second") is False
    assert refunds(org).count() == 1
    assert Deployment.all_orgs.get(id=deployment.id).error == "first"


def test_an_unexpected_exception_still_fails_and_refunds(owner_client, app, org, monkeypatch):
    from deployments import pipeline

    def boom(ctx):
        raise KeyError("bug")

    monkeypatch.setitem(pipeline.STEPS, "generate_metadata", boom)
    deployment = run(accept(owner_client, app))
    assert deployment.status == "failed"
    assert "Internal error" in deployment.error
    assert steps(deployment)["generate_metadata"].status == "failed"
    assert refunds(org).count() == 1


def test_a_package_replaced_while_queued_fails_the_old_deployment(
    owner_client, app, org, django_capture_on_commit_callbacks
):
    old = accept(owner_client, app, "1.0.0")
    with django_capture_on_commit_callbacks(execute=True):
        forced = deploy(owner_client, app, "1.0.0", force_overwrite="true")
    assert Deployment.all_orgs.get(id=forced.json()["deployment"]["id"]).status == "completed"
    with django_capture_on_commit_callbacks(execute=True):
        run(old)
    old = Deployment.all_orgs.get(id=old.id)
    assert old.status == "failed"
    assert "replaced" in old.error
    assert refunds(org).count() == 1


# --- notify_runtime against a real local HTTP server playing the runtime ---------------------------


@pytest.fixture
def runtime(http_server, settings):
    settings.PIXELL_RUNTIME_URL = http_server.url
    settings.PIXELL_RUNTIME_SECRET = "runtime-secret"
    settings.PIXELL_RUNTIME_ALLOW_PRIVATE_NETWORKS = True
    settings.PIXELL_RUNTIME_HEALTH_TIMEOUT_SECONDS = 2
    settings.PIXELL_RUNTIME_HEALTH_INTERVAL_SECONDS = 1
    return http_server


def test_runtime_gets_the_contract_payload_and_completes(runtime, owner_client, app, org):
    runtime.handler = (
        lambda r: (202, {"accepted": True}) if r["path"] == "/deploy" else (200, {"healthy": True})
    )
    app_secrets_replace(agent_app=app, secrets={"OPENAI_API_KEY": "sk-app", "LOG_LEVEL": "debug"})
    deployment = run(accept(owner_client, app, environment='{"LOG_LEVEL": "info", "EXTRA": "1"}'))

    assert deployment.status == "completed", deployment.error
    assert steps(deployment)["notify_runtime"].status == "completed"
    post = runtime.requests[0]
    assert post["method"] == "POST" and post["path"] == "/deploy"
    assert post["headers"]["authorization"] == "Bearer runtime-secret"
    assert post["headers"]["idempotency-key"] == str(deployment.id)
    payload = json.loads(post["body"])
    package = Package.all_orgs.get(id=deployment.package_id)
    assert payload["deploymentId"] == str(deployment.id)
    assert payload["agentAppId"] == str(app.id)
    assert payload["orgId"] == str(org.id)
    assert payload["version"] == "1.0.0"
    assert payload["packageSha256"] == package.sha256
    assert payload["packageUrl"].startswith("http")
    assert payload["forceRefresh"] is False
    # App secrets overlaid by the deploy's environment.
    assert payload["environment"] == {"OPENAI_API_KEY": "sk-app", "LOG_LEVEL": "info", "EXTRA": "1"}
    assert runtime.requests[1]["path"] == f"/deployments/{deployment.id}/health"


def test_runtime_refusal_fails_the_step_and_refunds(runtime, owner_client, app, org):
    runtime.responses = [(400, {"error": "bad package"})]
    deployment = run(accept(owner_client, app))
    _fails_and_refunds_once(deployment, org, "notify_runtime", "bad package")


def test_runtime_never_healthy_fails_and_refunds(runtime, owner_client, app, org):
    runtime.handler = lambda r: (202, {}) if r["path"] == "/deploy" else (200, {"healthy": False})
    deployment = run(accept(owner_client, app))
    _fails_and_refunds_once(deployment, org, "notify_runtime", "did not report healthy")


def test_runtime_unavailable_releases_the_job_then_fails_after_max_attempts(
    runtime, owner_client, app, org, settings, monkeypatch
):
    from deployments import runtime as runtime_client

    monkeypatch.setattr(runtime_client, "backoff_delay", lambda config, attempt: 0.0)
    settings.PIXELL_DEPLOYMENT_MAX_ATTEMPTS = 2
    runtime.responses = [(503, {"error": "busy"})]
    deployment = run(accept(owner_client, app))

    assert deployment.status == DeploymentStatus.QUEUED  # released for a later retry
    assert deployment.not_before is not None and deployment.attempts == 1
    assert steps(deployment)["notify_runtime"].status == StepStatus.PENDING
    assert steps(deployment)["validate_package"].status == StepStatus.COMPLETED
    assert not refunds(org).exists()
    # Not claimable before its time.
    assert queue.deployment_process(deployment_id=deployment.id) is None

    Deployment.all_orgs.filter(id=deployment.id).update(not_before=None)
    deployment = run(deployment)
    assert deployment.attempts == 2
    _fails_and_refunds_once(deployment, org, "notify_runtime", "did not accept")


def test_runtime_misconfigured_without_secret_fails(runtime, owner_client, app, org, settings):
    settings.PIXELL_RUNTIME_SECRET = None
    deployment = run(accept(owner_client, app))
    _fails_and_refunds_once(deployment, org, "notify_runtime", "misconfigured")


# --- webhook events along the way ------------------------------------------------------------------


def test_each_transition_emits_its_event(
    owner_client, app, org, http_server, settings, django_capture_on_commit_callbacks
):
    from deployments.services import webhook_create

    settings.PIXELL_WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    _webhook, _ = webhook_create(
        organization=org,
        agent_app=app,
        url=http_server.url + "/hook",
        events=[
            "deployment.queued",
            "deployment.processing",
            "deployment.completed",
            "deployment.failed",
        ],
    )
    with django_capture_on_commit_callbacks(execute=True):
        deploy(owner_client, app, "1.0.0")
    events = [json.loads(r["body"])["event"] for r in http_server.requests]
    assert events == ["deployment.queued", "deployment.processing", "deployment.completed"]
    completed = json.loads(http_server.requests[-1]["body"])
    assert completed["data"]["status"] == "completed"
    assert completed["data"]["s3_url"]

    deployment = accept(owner_client, app, "1.0.1")
    Package.all_orgs.filter(id=deployment.package_id).update(sha256="0" * 64)
    with django_capture_on_commit_callbacks(execute=True):
        run(deployment)
    failed = WebhookDelivery.objects.for_org(org).get(event="deployment.failed")
    body = json.loads(failed.body)
    assert body["data"]["deployment_id"] == str(deployment.id)
    assert body["data"]["status"] == "failed"
    assert body["data"]["error"]
