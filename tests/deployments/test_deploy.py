"""POST /api/agent-apps/:id/packages/deploy (docs/API.md §5, docs/CONTRACT.md §4/§5, docs/pixell-kit.md §3)."""

import base64
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from agentapps.models import Package, PackageStatus
from billing.models import CreditTransaction
from deployments.models import Deployment, DeploymentStatus, DeploymentStep, IdempotencyRecord
from deployments.services import deployment_cost
from organizations.models import Organization
from tests.deployments.conftest import apkg_bytes, deploy, stored_package_files, upload

pytestmark = pytest.mark.django_db

MIB = 1024 * 1024


def balance(org) -> int:
    return Organization.objects.get(pk=org.pk).credits


def test_accepted_answer_has_seed_shape_and_kit_fields(owner_client, app, org, settings):
    settings.PIXELL_PUBLIC_URL = "https://cloud.example.com"
    response = deploy(owner_client, app, "1.2.0", release_notes="Fixed bugs")

    assert response.status_code == 202, response.json()
    body = response.json()
    deployment_id = body["deployment"]["id"]
    assert body["deployment"]["status"] == "queued"
    assert body["deployment"]["message"] == "Deployment queued successfully"
    assert body["deployment"]["queued_at"].endswith("Z")
    assert isinstance(body["deployment"]["estimated_duration_seconds"], int)
    assert body["package"]["version"] == "1.2.0"
    assert body["package"]["status"] == "uploading"
    assert (
        body["package"]["size_bytes"] == len(apkg_bytes("1.2.0"))
        or body["package"]["size_bytes"] > 0
    )
    assert body["tracking"] == {
        "status_url": f"https://cloud.example.com/api/deployments/{deployment_id}",
        "webhook_url": f"https://cloud.example.com/api/agent-apps/{app.id}/webhooks",
    }
    deployment = Deployment.objects.for_org(org).get(id=deployment_id)
    assert deployment.status == DeploymentStatus.QUEUED
    assert deployment.release_notes == "Fixed bugs"
    assert str(deployment.package_id) == body["package"]["id"]
    steps = list(
        DeploymentStep.objects.filter(deployment=deployment)
        .order_by("position")
        .values_list("name", "status")
    )
    assert steps == [
        ("validate_package", "pending"),
        ("upload_to_s3", "pending"),
        ("generate_metadata", "pending"),
        ("notify_runtime", "pending"),
        ("finalize", "pending"),
    ]
    assert (
        Package.objects.for_org(org).get(id=body["package"]["id"]).status == PackageStatus.UPLOADING
    )


def test_reservation_is_one_usage_row_with_the_deployment_reference(owner_client, app, org):
    before = balance(org)
    body = deploy(owner_client, app, "1.0.0").json()

    row = CreditTransaction.objects.for_org(org).get(
        reference=f"deployment:{body['deployment']['id']}:reserve"
    )
    assert row.type == "usage"
    assert row.amount == -1
    assert row.description == "Deployment of mini-agent v1.0.0"
    assert balance(org) == before - 1


@pytest.mark.parametrize(
    "size,cost",
    [(0, 1), (1, 1), (MIB - 1, 1), (MIB, 1), (MIB + 1, 2), (5 * MIB, 5), (5 * MIB + 1, 6)],
)
def test_cost_is_one_credit_per_started_mib(size, cost):
    assert deployment_cost(size) == cost


def test_a_package_over_one_mib_costs_two(owner_client, app, org):
    data = apkg_bytes("1.0.0", pad_bytes=MIB + 10)
    assert MIB < len(data) <= 2 * MIB
    body = deploy(owner_client, app, data=data).json()
    assert body["deployment"]["cost"] == 2
    assert balance(org) == 100 - 2


def test_version_is_taken_from_the_manifest_when_omitted(owner_client, app):
    response = deploy(owner_client, app, None, data=apkg_bytes("3.1.4"))
    assert response.status_code == 202
    assert response.json()["package"]["version"] == "3.1.4"


def test_insufficient_credits_is_402_with_top_level_required_and_available(
    owner_client, app, org, settings
):
    Organization.objects.filter(pk=org.pk).update(credits=1)
    before_files = stored_package_files(settings)
    response = deploy(owner_client, app, data=apkg_bytes("1.0.0", pad_bytes=MIB + 10))

    assert response.status_code == 402
    body = response.json()
    assert body["code"] == "INSUFFICIENT_CREDITS"
    assert body["required"] == 2 and body["available"] == 1
    assert not Package.objects.for_org(org).exists()
    assert not Deployment.objects.for_org(org).exists()
    assert stored_package_files(settings) == before_files  # the ingested bytes were discarded
    assert balance(org) == 1


def test_existing_version_is_409_and_force_overwrite_replaces_it(
    owner_client, app, org, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = deploy(owner_client, app, "1.0.0")
    assert first.status_code == 202

    again = deploy(owner_client, app, "1.0.0")
    assert again.status_code == 409
    assert again.json()["code"] == "VERSION_EXISTS"

    with django_capture_on_commit_callbacks(execute=True):
        forced = deploy(owner_client, app, "1.0.0", force_overwrite="true")
    assert forced.status_code == 202
    old = Package.all_orgs.get(id=first.json()["package"]["id"])
    assert old.deleted_at is not None
    assert (
        Deployment.objects.for_org(org).get(id=forced.json()["deployment"]["id"]).status
        == "completed"
    )


def test_a_version_in_deployment_counts_as_existing(owner_client, app):
    assert (
        deploy(owner_client, app, "1.0.0").status_code == 202
    )  # still queued: its package is uploading
    assert deploy(owner_client, app, "1.0.0").status_code == 409


def test_version_omitted_but_taken_is_409_after_validation(
    owner_client, app, org, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        deploy(owner_client, app, "2.0.0")
    before_files = stored_package_files(settings)
    credits = balance(org)
    response = deploy(owner_client, app, None, data=apkg_bytes("2.0.0"))
    assert response.status_code == 409
    assert stored_package_files(settings) == before_files
    assert balance(org) == credits


def test_invalid_package_is_400_with_every_reason_and_stores_nothing(
    owner_client, app, org, settings
):
    before_files = stored_package_files(settings)
    response = deploy(owner_client, app, data=b"this is not a zip")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "PACKAGE_VALIDATION_FAILED"
    assert body["error"] == "Package validation failed"
    assert "Invalid APKG format" in body["details"]
    assert stored_package_files(settings) == before_files
    assert balance(org) == 100
    assert not Deployment.objects.for_org(org).exists()


def test_form_version_must_match_the_manifest(owner_client, app):
    response = deploy(owner_client, app, "9.9.9", data=apkg_bytes("1.0.0"))
    assert response.status_code == 400
    assert response.json()["code"] == "PACKAGE_VALIDATION_FAILED"


def test_missing_file_is_a_validation_error_naming_file(owner_client, app):
    response = owner_client.post(
        f"/api/agent-apps/{app.id}/packages/deploy", {"version": "1.0.0"}, format="multipart"
    )
    assert response.status_code == 400
    assert "file" in response.json()["details"]


@pytest.mark.parametrize(
    "raw", ["not json", "[1, 2]", '"text"', '{"A": 1}', '{"A": {"nested": "x"}}']
)
def test_invalid_environment_is_400_naming_environment(owner_client, app, raw):
    response = deploy(owner_client, app, environment=raw)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert "environment" in body["details"]


def test_environment_is_kept_encrypted_and_not_rendered(owner_client, app, org):
    response = deploy(owner_client, app, environment='{"FOO": "super-secret-value"}')
    assert response.status_code == 202
    deployment = Deployment.objects.for_org(org).get(id=response.json()["deployment"]["id"])
    assert "super-secret-value" not in deployment.environment_encrypted
    from deployments.pipeline import deployment_environment

    assert deployment_environment(deployment) == {"FOO": "super-secret-value"}
    detail = owner_client.get(f"/api/deployments/{deployment.id}").content.decode()
    assert "super-secret-value" not in detail


def test_kit_style_multipart_with_signature_file_part(owner_client, app, org):
    # The kit sends signature as a file part; a signature no key of the organization verifies is refused.
    response = owner_client.post(
        f"/api/agent-apps/{app.id}/packages/deploy",
        {
            "version": "1.0.0",
            "file": upload(apkg_bytes("1.0.0")),
            "signature": SimpleUploadedFile(
                "agent.apkg.sig", b"\x01" * 64, content_type="application/octet-stream"
            ),
        },
        format="multipart",
    )
    assert response.status_code == 400
    assert any("signature" in reason.lower() for reason in response.json()["details"])
    assert balance(org) == 100


def test_signature_as_text_is_checked_too(owner_client, app):
    response = deploy(owner_client, app, signature=base64.b64encode(b"\x02" * 64).decode())
    assert response.status_code == 400
    assert any("signature" in reason.lower() for reason in response.json()["details"])


def test_valid_signature_is_accepted(owner_client, app, org):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    private = Ed25519PrivateKey.generate()
    public = base64.b64encode(
        private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    ).decode()
    assert (
        owner_client.post(
            "/api/signing-keys", {"name": "ci", "public_key": public}, format="json"
        ).status_code
        == 201
    )
    data = apkg_bytes("1.0.0")
    signature = SimpleUploadedFile("agent.apkg.sig", private.sign(data))
    response = owner_client.post(
        f"/api/agent-apps/{app.id}/packages/deploy",
        {"version": "1.0.0", "file": upload(data), "signature": signature},
        format="multipart",
    )
    assert response.status_code == 202, response.json()
    assert Package.objects.for_org(org).get(id=response.json()["package"]["id"]).signed


# --- dry run -------------------------------------------------------------------------------------


def test_dry_run_quotes_and_stores_nothing(owner_client, app, org, settings):
    before_files = stored_package_files(settings)
    response = deploy(
        owner_client, app, dry_run="true", data=apkg_bytes("1.0.0", pad_bytes=MIB + 1)
    )
    assert response.status_code == 200
    assert response.json() == {"valid": True, "cost": 2, "warnings": [], "errors": []}
    assert not Package.objects.for_org(org).exists()
    assert not Deployment.objects.for_org(org).exists()
    assert not CreditTransaction.objects.for_org(org).filter(type="usage").exists()
    assert stored_package_files(settings) == before_files


def test_dry_run_of_a_bad_package_is_valid_false_with_reasons(owner_client, app):
    response = deploy(owner_client, app, dry_run="true", data=b"nope")
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False
    assert "Invalid APKG format" in body["errors"]


def test_dry_run_reports_an_existing_version_and_short_balance(owner_client, app, org):
    assert deploy(owner_client, app, "1.0.0").status_code == 202
    Organization.objects.filter(pk=org.pk).update(credits=0)
    body = deploy(owner_client, app, "1.0.0", dry_run="true").json()
    assert body["valid"] is False
    assert any("already exists" in e for e in body["errors"])
    assert any("Insufficient credits" in w for w in body["warnings"])


# --- Idempotency-Key ---------------------------------------------------------------------------


def test_same_key_and_body_replays_the_first_answer_and_charges_once(owner_client, app, org):
    data = apkg_bytes("1.0.0")
    first = deploy(owner_client, app, data=data, headers={"Idempotency-Key": "ci-run-42"})
    second = deploy(owner_client, app, data=data, headers={"Idempotency-Key": "ci-run-42"})

    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Deployment.objects.for_org(org).count() == 1
    assert CreditTransaction.objects.for_org(org).filter(type="usage").count() == 1
    assert balance(org) == 99


def test_same_key_different_body_is_409_conflict(owner_client, app, org):
    deploy(owner_client, app, data=apkg_bytes("1.0.0"), headers={"Idempotency-Key": "k1"})
    response = deploy(
        owner_client, app, "1.0.1", data=apkg_bytes("1.0.1"), headers={"Idempotency-Key": "k1"}
    )
    assert response.status_code == 409
    assert response.json()["code"] == "CONFLICT"
    assert Deployment.objects.for_org(org).count() == 1


def test_a_failed_request_frees_its_key(owner_client, app, org):
    Organization.objects.filter(pk=org.pk).update(credits=0)
    data = apkg_bytes("1.0.0")
    assert (
        deploy(owner_client, app, data=data, headers={"Idempotency-Key": "k2"}).status_code == 402
    )
    Organization.objects.filter(pk=org.pk).update(credits=5)
    assert (
        deploy(owner_client, app, data=data, headers={"Idempotency-Key": "k2"}).status_code == 202
    )


def test_keys_are_per_organization_and_expire_after_24_hours(
    owner_client, app, org, other_client, other_app
):
    from datetime import timedelta

    from django.utils import timezone

    data = apkg_bytes("1.0.0")
    assert (
        deploy(owner_client, app, data=data, headers={"Idempotency-Key": "shared"}).status_code
        == 202
    )
    # Another organization may use the same key for its own request.
    assert (
        deploy(
            other_client, other_app, data=data, headers={"Idempotency-Key": "shared"}
        ).status_code
        == 202
    )
    IdempotencyRecord.objects.for_org(org).update(created_at=timezone.now() - timedelta(hours=25))
    again = deploy(
        owner_client, app, "1.0.1", data=apkg_bytes("1.0.1"), headers={"Idempotency-Key": "shared"}
    )
    assert again.status_code == 202


@pytest.mark.parametrize("key", ["", "x" * 256, "bad\x00key", "tab\tkey"])
def test_a_malformed_key_is_400_and_nothing_is_accepted(owner_client, app, key):
    response = deploy(owner_client, app, headers={"Idempotency-Key": key})
    assert response.status_code == 400 and "Idempotency-Key" in response.json()["details"]
    assert not Deployment.all_orgs.filter(agent_app=app).exists()


def test_a_key_in_flight_is_409(owner_client, app, org):
    from deployments.services import deploy_request_hash

    data = apkg_bytes("1.0.0")
    IdempotencyRecord.objects.for_org(org).create(
        organization=org,
        key="busy",
        request_hash=deploy_request_hash(
            agent_app=app,
            upload=upload(data),
            version="1.0.0",
            release_notes="",
            force_overwrite=False,
            environment={},
            signature=None,
        ),
    )
    response = deploy(owner_client, app, data=data, headers={"Idempotency-Key": "busy"})
    assert response.status_code == 409
    assert "still being processed" in response.json()["error"]


def test_a_key_whose_request_died_is_free_again_after_the_in_flight_timeout(owner_client, app, org):
    from django.utils import timezone

    from deployments.services import IDEMPOTENCY_IN_FLIGHT_TIMEOUT, deploy_request_hash

    data = apkg_bytes("1.0.0")
    IdempotencyRecord.objects.for_org(org).create(
        organization=org,
        key="orphan",
        request_hash=deploy_request_hash(
            agent_app=app,
            upload=upload(data),
            version="1.0.0",
            release_notes="",
            force_overwrite=False,
            environment={},
            signature=None,
        ),
    )
    IdempotencyRecord.objects.for_org(org).filter(key="orphan").update(
        created_at=timezone.now() - IDEMPOTENCY_IN_FLIGHT_TIMEOUT - timedelta(seconds=1)
    )
    first = deploy(owner_client, app, data=data, headers={"Idempotency-Key": "orphan"})
    assert first.status_code == 202
    # And the new answer is the one replayed now.
    again = deploy(owner_client, app, data=data, headers={"Idempotency-Key": "orphan"})
    assert (
        again.status_code == 202
        and again.json()["deployment"]["id"] == first.json()["deployment"]["id"]
    )


# --- roles and tenancy ---------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["owner", "admin", "member", "api_key"])
def test_every_role_and_api_keys_may_deploy(role_clients, app, who):
    assert deploy(role_clients[who], app).status_code == 202


def test_anonymous_is_401(anon_client, app):
    response = deploy(anon_client, app)
    assert response.status_code == 401
    assert response.json()["code"] == "AUTHENTICATION_FAILED"


def test_another_organizations_app_is_404(other_client, app):
    assert deploy(other_client, app).status_code == 404


@pytest.mark.parametrize("bad", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_unknown_app_is_404(owner_client, bad):
    response = owner_client.post(
        f"/api/agent-apps/{bad}/packages/deploy", {"file": upload(apkg_bytes())}, format="multipart"
    )
    assert response.status_code == 404
