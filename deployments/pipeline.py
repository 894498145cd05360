"""The deployment pipeline: five steps, each a plain function with one job (docs/CONTRACT.md §5).

A step receives a :class:`StepContext` and returns ``None`` (completed) or ``StepStatus.SKIPPED``.
It raises :class:`StepFailed` when the deployment cannot succeed and :class:`StepTransientError`
when trying again later may help; the runner (deployments.queue) turns both into state. Steps are
safe to run again after a crash (a recovered job resumes at its first unfinished step): they
verify or overwrite rather than append, and the runtime dedupes on the deployment id.

Slow I/O (storage reads, the runtime) happens here, outside any transaction, with the heartbeat
beaten while it lasts so the job is not mistaken for abandoned.
"""

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from agentapps.apkg import validate_apkg
from agentapps.models import AgentApp, Package, PackageStatus
from agentapps.selectors import app_secrets_get
from agentapps.services import package_download_url, package_file_open
from deployments import crypto, runtime
from deployments.models import Deployment, StepStatus
from deployments.presenters import iso
from deployments.progress import progress_transaction
from pixell.crypto import DecryptionError
from usage.models import UsageEventType
from usage.services import usage_event_record

logger = logging.getLogger(__name__)

ENVIRONMENT_PURPOSE = crypto.ENVIRONMENT_PURPOSE
READ_CHUNK = 1024 * 1024


class StepFailed(Exception):
    """The step cannot succeed: the deployment fails with this message as the step's error."""


class StepTransientError(Exception):
    """The step may succeed later (network, storage hiccup): the job is released and retried."""


@dataclass
class StepContext:
    deployment: Deployment
    heartbeat: Callable[[], None]
    sleep: Callable[[float], None] = time.sleep
    notes: dict = field(default_factory=dict)

    @property
    def package(self) -> Package:
        return self.deployment.package

    def beating_sleep(self, seconds: float) -> None:
        """A sleep that keeps the claim alive (used while waiting for the runtime)."""
        self.heartbeat()
        self.sleep(seconds)
        self.heartbeat()


def deployment_environment(deployment: Deployment) -> dict:
    return crypto.decrypt_json(deployment.environment_encrypted, purpose=ENVIRONMENT_PURPOSE) or {}


def _open_package(ctx: StepContext):
    package = ctx.package
    if package.deleted_at is not None:
        raise StepFailed(
            "The package was deleted or replaced by another deploy of the same version"
        )
    try:
        return package_file_open(package=package)
    except FileNotFoundError:
        raise StepFailed("The package file is missing from storage") from None
    except OSError as exc:
        raise StepTransientError(f"Storage could not be read: {exc}") from None


def _hash_stream(ctx: StepContext, handle) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    try:
        while chunk := handle.read(READ_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            ctx.heartbeat()
    except OSError as exc:
        raise StepTransientError(f"Storage read failed: {exc}") from None
    return size, digest.hexdigest()


def validate_package(ctx: StepContext):
    """Re-validate the stored bytes with the validator the upload passed (it streams the archive)."""
    handle = _open_package(ctx)
    try:
        result = validate_apkg(
            handle, max_bytes=settings.PIXELL_MAX_PACKAGE_BYTES, form_version=ctx.package.version
        )
    except OSError as exc:
        raise StepTransientError(f"Storage read failed: {exc}") from None
    finally:
        handle.close()
    ctx.heartbeat()
    if result.errors:
        raise StepFailed("Package validation failed: " + "; ".join(result.errors))


def upload_to_s3(ctx: StepContext):
    """Prove the object in storage is the accepted package: size and sha256, streamed."""
    package = ctx.package
    handle = _open_package(ctx)
    try:
        size, sha256 = _hash_stream(ctx, handle)
    finally:
        handle.close()
    if size != package.size or sha256 != package.sha256:
        raise StepFailed(
            f"Stored package does not match the upload (size {size} vs {package.size}, "
            f"sha256 {sha256[:12]}… vs {package.sha256[:12]}…)"
        )


def package_metadata_key(package: Package) -> str:
    return f"{package.file.name.rsplit('.', 1)[0]}.metadata.json"


def generate_metadata(ctx: StepContext):
    """Write the package's metadata document beside it and the deployment's metadata."""
    deployment, package = ctx.deployment, ctx.package
    manifest = package.manifest or {}
    document = {
        "package_id": str(package.id),
        "agent_app_id": str(package.agent_app_id),
        "organization_id": str(package.organization_id),
        "name": manifest.get("name"),
        "display_name": manifest.get("display_name"),
        "version": package.version,
        "sha256": package.sha256,
        "size_bytes": package.size,
        "signed": package.signed,
        "runtime": manifest.get("runtime"),
        "entrypoint": manifest.get("entrypoint"),
        "capabilities": manifest.get("capabilities") or [],
        "manifest": manifest,
        "warnings": list(package.warnings or []),
        "deployment_id": str(deployment.id),
        "created_at": iso(package.created_at),
    }
    key = package_metadata_key(package)
    try:
        if default_storage.exists(key):
            default_storage.delete(key)  # a re-run after a crash rewrites it whole
        saved = default_storage.save(
            key, ContentFile(json.dumps(document, indent=2, sort_keys=True).encode())
        )
    except OSError as exc:
        raise StepTransientError(f"Storage write failed: {exc}") from None
    ctx.heartbeat()
    metadata = {
        "package_metadata_key": saved,
        "package_sha256": package.sha256,
        "size_bytes": package.size,
        "warnings": list(package.warnings or []),
        "runtime": manifest.get("runtime"),
        "entrypoint": manifest.get("entrypoint"),
        "capabilities": manifest.get("capabilities") or [],
        "environment_keys": sorted(deployment_environment(deployment)),
    }
    with progress_transaction():
        Deployment.all_orgs.filter(id=deployment.id).update(metadata=metadata)
    deployment.metadata = metadata


def runtime_config() -> runtime.RuntimeConfig | None:
    if not settings.PIXELL_RUNTIME_URL:
        return None
    return runtime.RuntimeConfig(
        url=settings.PIXELL_RUNTIME_URL,
        secret=settings.PIXELL_RUNTIME_SECRET or "",
        health_timeout_s=settings.PIXELL_RUNTIME_HEALTH_TIMEOUT_SECONDS,
        health_interval_s=settings.PIXELL_RUNTIME_HEALTH_INTERVAL_SECONDS,
        allow_private=settings.PIXELL_RUNTIME_ALLOW_PRIVATE_NETWORKS,
    )


def runtime_payload(deployment: Deployment) -> dict:
    """docs/CONTRACT.md §5: environment = the app's secrets overlaid by the deploy's environment."""
    package = deployment.package
    environment = dict(app_secrets_get(agent_app=deployment.agent_app))
    environment.update(deployment_environment(deployment))
    return {
        "deploymentId": str(deployment.id),
        "agentAppId": str(deployment.agent_app_id),
        "orgId": str(deployment.organization_id),
        "version": deployment.version,
        "packageUrl": package_download_url(package=package),
        "packageSha256": package.sha256,
        "forceRefresh": deployment.force_overwrite,
        "environment": environment,
    }


def notify_runtime(ctx: StepContext):
    """Hand the package to the Pixell Agent Runtime and wait for it to report healthy."""
    try:
        config = runtime_config()
    except ValueError as exc:
        raise StepFailed(f"Runtime is misconfigured: {exc}") from None
    if config is None:
        return StepStatus.SKIPPED  # no runtime configured (PIXELL_RUNTIME_URL unset)
    try:
        payload = runtime_payload(ctx.deployment)
    except DecryptionError as exc:
        # The environment cannot be built: an operator must restore the secrets key. Retrying
        # cannot help, and the step says which key is missing.
        raise StepFailed(exc.message) from None
    try:
        result = runtime.notify_deploy(
            config, payload, deployment_id=str(ctx.deployment.id), sleep=ctx.beating_sleep
        )
    except runtime.RuntimePermanentError as exc:
        raise StepFailed(str(exc)) from None
    except runtime.RuntimeTransientError as exc:
        raise StepTransientError(str(exc)) from None
    ctx.notes["runtime"] = {"attempts": result.attempts, "health_polls": result.health_polls}
    return None


def finalize(ctx: StepContext):
    """Make the package the app's current version and record the charge as usage.

    Runs inside the runner's transaction that also completes the deployment, so either all of it
    happens or none.
    """
    deployment = ctx.deployment
    package = Package.all_orgs.select_for_update().get(id=deployment.package_id)
    if package.deleted_at is not None:
        raise StepFailed(
            "The package was deleted or replaced by another deploy of the same version"
        )
    if package.status != PackageStatus.READY:
        Package.all_orgs.filter(id=package.id).update(status=PackageStatus.READY)
    AgentApp.all_orgs.filter(id=deployment.agent_app_id).update(current_package=package)
    usage_event_record(
        organization=deployment.organization,
        type=UsageEventType.DEPLOYMENT,
        description=f"Deployment of {deployment.agent_app.name} v{deployment.version}",
        credits=deployment.cost,
        agent_app_id=deployment.agent_app_id,
        metadata={
            "deployment_id": str(deployment.id),
            "package_id": str(package.id),
            "size_bytes": package.size,
        },
    )


STEPS: dict[str, Callable] = {
    "validate_package": validate_package,
    "upload_to_s3": upload_to_s3,
    "generate_metadata": generate_metadata,
    "notify_runtime": notify_runtime,
    "finalize": finalize,
}
