"""Agent-app writes: apps, packages, signing keys, app secrets.

The package functions are also the interface the deployments pipeline uses (docs/ARCHITECTURE.md,
"How a deployment flows"): ``package_ingest`` (validate, verify, store + hash; slow I/O,
outside transactions), ``package_create`` (inside the caller's transaction),
``package_discard_ingested``, ``package_check_version_free``, ``package_validate_only``,
``package_download_url``, ``package_file_open`` and ``app_secrets_get``.
"""

from __future__ import annotations

import base64
import contextlib
import io
import mmap
import re
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from agentapps import storage
from agentapps.apkg import validate_apkg
from agentapps.crypto import (
    InvalidPublicKey,
    public_key_fingerprint,
    public_key_parse,
    secret_encrypt,
    signature_decode,
    signature_verify,
)
from agentapps.errors import (
    SIGNATURE_INVALID,
    SIGNATURE_REQUIRED,
    AppNameTaken,
    PackageBeingDeployed,
    PackageValidationFailed,
    SigningKeyExists,
    VersionExists,
)
from agentapps.models import AgentApp, AppSecret, Package, PackageStatus, SigningKey

# app_secrets_get is re-exported: the deployments pipeline reads the runtime's environment here.
from agentapps.selectors import app_secrets_get, package_get_live_version, signing_public_keys
from agentapps.signals import agent_app_deleting
from pixell.errors import NotFound, ValidationError
from usage.models import UsageEventType
from usage.services import usage_event_record

__all__ = [
    "IngestedPackage",
    "PackageCheck",
    "agent_app_create",
    "agent_app_delete",
    "agent_app_update",
    "app_secret_delete",
    "app_secret_set",
    "app_secrets_delete_all",
    "app_secrets_get",
    "app_secrets_replace",
    "package_check_version_free",
    "package_create",
    "package_delete",
    "package_discard_ingested",
    "package_download_url",
    "package_file_open",
    "package_ingest",
    "package_upload",
    "package_validate_only",
    "signing_key_create",
    "signing_key_delete",
]


def _user_or_none(actor):
    # API-key callers have no user; only a real User goes into a created_by/uploaded_by column.
    return actor if isinstance(actor, User) else None


# --- agent apps -----------------------------------------------------------------------------------


def _name_taken(*, organization, name: str, exclude_pk=None) -> bool:
    qs = AgentApp.objects.for_org(organization).filter(name__iexact=name)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs.exists()


def agent_app_create(
    *, organization, actor, name: str, description: str = "", is_public: bool = False
) -> AgentApp:
    name = name.strip()
    if _name_taken(organization=organization, name=name):
        raise AppNameTaken(details={"name": [f"An agent app named '{name}' already exists."]})
    try:
        with transaction.atomic():
            app = AgentApp.objects.for_org(organization).create(
                organization=organization,
                name=name,
                description=description,
                is_public=is_public,
                created_by=_user_or_none(actor),
            )
            usage_event_record(
                organization=organization,
                type=UsageEventType.APP,
                description=f"Created agent app '{name}'",
                agent_app_id=app.id,
            )
    except IntegrityError as exc:
        # A concurrent create of the same name won the unique constraint.
        raise AppNameTaken(
            details={"name": [f"An agent app named '{name}' already exists."]}
        ) from exc
    return app


def agent_app_update(*, agent_app: AgentApp, actor, **changes) -> AgentApp:
    allowed = {"name", "description", "is_public"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"cannot update {sorted(unknown)}")
    if "name" in changes:
        changes["name"] = changes["name"].strip()
        if _name_taken(
            organization=agent_app.organization, name=changes["name"], exclude_pk=agent_app.pk
        ):
            raise AppNameTaken(
                details={"name": [f"An agent app named '{changes['name']}' already exists."]}
            )
    for attr, value in changes.items():
        setattr(agent_app, attr, value)
    try:
        with transaction.atomic():
            agent_app.save(update_fields=[*changes, "updated_at"])
    except IntegrityError as exc:
        raise AppNameTaken(
            details={"name": [f"An agent app named '{changes.get('name')}' already exists."]}
        ) from exc
    return agent_app


def agent_app_delete(*, agent_app: AgentApp, actor) -> None:
    """Delete the app with its packages, secrets and deployments; its stored files go after commit.

    Announced first (``agent_app_deleting``): deployments cancels the queued deployments, which
    refunds their reserved credits, and refuses with AppBeingDeployed (409) while one is running.
    """
    with transaction.atomic():
        # The app row lock keeps new deploys of this app out until we are done (deploys lock it too).
        AgentApp.all_orgs.select_for_update().filter(pk=agent_app.pk).first()
        agent_app_deleting.send(sender=AgentApp, agent_app=agent_app)
        names = list(Package.all_orgs.filter(agent_app=agent_app).values_list("file", flat=True))
        usage_event_record(
            organization=agent_app.organization,
            type=UsageEventType.APP,
            description=f"Deleted agent app '{agent_app.name}'",
            agent_app_id=agent_app.id,
        )
        agent_app.delete()
        # After commit: a rolled-back delete must not have lost its files. robust: the row is gone
        # whatever storage answers, and a failure is logged rather than turned into a 500.
        transaction.on_commit(lambda: storage.storage_delete_quietly(names), robust=True)


# --- packages: validation, signatures, storage -------------------------------------------------------


@dataclass(frozen=True)
class IngestedPackage:
    package_id: uuid.UUID  # pre-generated; becomes Package.id
    storage_key: (
        str  # the object in default_storage: packages/<org>/<app>/<version>/<package_id>.apkg
    )
    size: int
    sha256: str
    version: str  # the manifest's version (the form's, when given, equals it)
    manifest: dict
    warnings: list[str]
    signed: bool


@dataclass(frozen=True)
class PackageCheck:
    """What ``package_validate_only`` (dry runs) answers: like ApkgResult plus the signature."""

    valid: bool
    errors: list[str]
    warnings: list[str]
    size: int
    version: str | None
    name: str | None
    manifest: dict | None
    signed: bool = False


@contextlib.contextmanager
def _upload_bytes(upload):
    """The whole upload as a buffer, for Ed25519 (which needs the full message, not a stream).

    A file on disk is memory-mapped: its pages are the page cache's, not a 100 MiB heap copy.
    In-memory uploads (at most FILE_UPLOAD_MAX_MEMORY_SIZE) are read as they are.
    """
    fileobj = getattr(upload, "file", upload)
    try:
        fileno = fileobj.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        fileno = None
    if fileno is not None:
        try:
            mapped = mmap.mmap(fileno, 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file cannot be mapped
            mapped = None
        if mapped is not None:
            try:
                yield mapped
            finally:
                mapped.close()
            return
    upload.seek(0)
    yield upload.read()


def _signature_errors(*, organization, upload, signature: bytes | None) -> tuple[list[str], bool]:
    """(errors, signed). A signature no key of the organization verifies is refused; unsigned
    packages are refused when the organization requires signatures."""
    if signature is None:
        return ([SIGNATURE_REQUIRED] if organization.require_signed_packages else []), False
    raw = signature_decode(signature)
    keys = signing_public_keys(organization=organization)
    if raw is None or not keys:
        return [SIGNATURE_INVALID], False
    with _upload_bytes(upload) as data:
        ok = signature_verify(public_keys=keys, signature=raw, data=data)
    return ([] if ok else [SIGNATURE_INVALID]), ok


def _check(
    *, organization, upload, form_version: str | None, signature: bytes | None
) -> PackageCheck:
    upload.seek(0)
    result = validate_apkg(
        upload, max_bytes=settings.PIXELL_MAX_PACKAGE_BYTES, form_version=form_version or None
    )
    signature_errors, signed = _signature_errors(
        organization=organization, upload=upload, signature=signature
    )
    errors = [*result.errors, *signature_errors]
    return PackageCheck(
        valid=not errors,
        errors=errors,
        warnings=list(result.warnings),
        size=result.size,
        version=result.version,
        name=result.name,
        manifest=result.manifest,
        signed=signed,
    )


def package_validate_only(
    *, organization, agent_app, upload, form_version: str | None, signature: bytes | None
) -> PackageCheck:
    """Dry run: every check of an upload, nothing stored. ``valid`` False carries all reasons."""
    return _check(
        organization=organization, upload=upload, form_version=form_version, signature=signature
    )


def package_check_version_free(
    *, agent_app: AgentApp, version: str, force_overwrite: bool
) -> Package | None:
    """Raises VersionExists (409) when a live package (uploading or ready, not deleted) holds
    ``version`` and ``force_overwrite`` is false; with ``force_overwrite`` returns the package to be
    replaced (or None)."""
    existing = package_get_live_version(agent_app=agent_app, version=version)
    if existing is not None and not force_overwrite:
        raise VersionExists(
            f"Version {version} already exists; use force_overwrite to replace it",
            details={"version": version, "package_id": str(existing.pk)},
        )
    return existing


def package_ingest(
    *,
    organization,
    agent_app: AgentApp,
    upload,
    form_version: str | None,
    signature: bytes | None,
    force_overwrite: bool | None = None,
) -> IngestedPackage:
    """Validate (all reasons → PackageValidationFailed), verify the signature, then stream the upload
    into default_storage at its final key, hashing in the same pass. Writes no rows.

    Slow I/O: call outside any transaction. ``force_overwrite`` (optional): when given, the version is
    checked before anything is stored, so a 409 costs no storage write (package_create re-checks it
    under a lock anyway).
    """
    check = _check(
        organization=organization, upload=upload, form_version=form_version, signature=signature
    )
    if not check.valid:
        raise PackageValidationFailed(details=check.errors)
    if force_overwrite is not None:
        package_check_version_free(
            agent_app=agent_app, version=check.version, force_overwrite=force_overwrite
        )
    package_id = uuid.uuid4()
    key = storage.package_storage_key(
        organization_id=organization.pk,
        agent_app_id=agent_app.pk,
        version=check.version,
        package_id=package_id,
    )
    name, sha256, size = storage.storage_save_hashed(key=key, fileobj=upload)
    if size != check.size:
        # The upload changed under us (it cannot, short of a bug): never keep unvalidated bytes.
        storage.storage_delete_quietly([name])
        raise RuntimeError(
            f"package size changed while storing ({check.size} validated, {size} stored)"
        )
    return IngestedPackage(
        package_id=package_id,
        storage_key=name,
        size=size,
        sha256=sha256,
        version=check.version,
        manifest=check.manifest or {},
        warnings=check.warnings,
        signed=check.signed,
    )


def package_discard_ingested(*, ingested: IngestedPackage) -> None:
    """Delete the stored bytes of an ingest whose transaction failed (402, 409, ...)."""
    storage.storage_delete_quietly([ingested.storage_key])


def _package_soft_delete(package: Package) -> None:
    """Mark deleted (deployment history keeps the row) and remove its file once committed."""
    now = timezone.now()
    Package.all_orgs.filter(pk=package.pk).update(deleted_at=now, updated_at=now)
    package.deleted_at = now
    name = package.file.name
    transaction.on_commit(lambda: storage.storage_delete_quietly([name]), robust=True)


def package_create(
    *,
    ingested: IngestedPackage,
    organization,
    agent_app: AgentApp,
    status: str,
    release_notes: str = "",
    actor=None,
    force_overwrite: bool = False,
) -> Package:
    """Create the Package row of an ingest; call inside the caller's transaction (it opens its own
    atomic block, a savepoint when nested). Replaces the live package of the same version when
    ``force_overwrite``; raises VersionExists otherwise. Records a ``package_upload`` usage event."""
    if status not in PackageStatus.values:
        raise ValueError(f"unknown package status {status!r}")
    with transaction.atomic():
        # The app row lock serializes uploads and deploys of one app, so two requests for the same
        # version cannot both find it free; the partial unique index is the last line of defence.
        app = (
            AgentApp.objects.for_org(organization)
            .select_for_update()
            .filter(pk=agent_app.pk)
            .first()
        )
        if app is None:
            raise NotFound("Agent app not found")
        replaced = package_check_version_free(
            agent_app=app, version=ingested.version, force_overwrite=force_overwrite
        )
        if replaced is not None:
            _package_soft_delete(replaced)
        try:
            with transaction.atomic():
                package = Package.objects.for_org(organization).create(
                    id=ingested.package_id,
                    organization=organization,
                    agent_app=app,
                    version=ingested.version,
                    file=ingested.storage_key,
                    size=ingested.size,
                    sha256=ingested.sha256,
                    status=status,
                    manifest=ingested.manifest,
                    warnings=ingested.warnings,
                    release_notes=release_notes or "",
                    signed=ingested.signed,
                    uploaded_by=_user_or_none(actor),
                )
        except IntegrityError as exc:
            raise VersionExists(
                f"Version {ingested.version} already exists", details={"version": ingested.version}
            ) from exc
        usage_event_record(
            organization=organization,
            type=UsageEventType.PACKAGE_UPLOAD,
            description=f"Uploaded version {ingested.version} of '{app.name}'",
            value=ingested.size,
            agent_app_id=app.id,
            metadata={
                "package_id": str(package.id),
                "version": ingested.version,
                "size": ingested.size,
                "sha256": ingested.sha256,
            },
        )
    return package


def package_upload(
    *,
    organization,
    agent_app: AgentApp,
    actor,
    upload,
    form_version: str | None = None,
    signature: bytes | None = None,
    release_notes: str = "",
    force_overwrite: bool = False,
) -> Package:
    """POST /api/agent-apps/:id/packages: ingest, then the row in one transaction; a failure after
    storing (a version taken meanwhile) removes the stored bytes again."""
    ingested = package_ingest(
        organization=organization,
        agent_app=agent_app,
        upload=upload,
        form_version=form_version,
        signature=signature,
        force_overwrite=force_overwrite,
    )
    try:
        with transaction.atomic():
            return package_create(
                ingested=ingested,
                organization=organization,
                agent_app=agent_app,
                status=PackageStatus.READY,
                release_notes=release_notes,
                actor=actor,
                force_overwrite=force_overwrite,
            )
    except BaseException:
        package_discard_ingested(ingested=ingested)
        raise


def package_delete(*, package: Package, actor) -> None:
    if package.status == PackageStatus.UPLOADING:
        # Its deployment is reading the file right now; deleting it would fail that deployment
        # half-way. The pipeline ends every deployment, so this refusal is temporary.
        raise PackageBeingDeployed()
    with transaction.atomic():
        _package_soft_delete(package)


def package_download_url(*, package: Package, request=None) -> str:
    """``s3_url``: presigned S3 URL, or our signed expiring link for local storage (absolute; built
    on PIXELL_PUBLIC_URL when there is no request)."""
    return storage.download_url(package=package, request=request)


def package_file_open(*, package: Package):
    """A readable binary file of the package's stored bytes (streaming; close it when done)."""
    return storage.storage_open(package.file.name)


# --- signing keys -------------------------------------------------------------------------------------


def signing_key_create(*, organization, actor, name: str, public_key: str) -> SigningKey:
    try:
        raw = public_key_parse(public_key)
    except InvalidPublicKey as exc:
        raise ValidationError(str(exc), details={"public_key": [str(exc)]}) from exc
    fingerprint = public_key_fingerprint(raw)
    if SigningKey.objects.for_org(organization).filter(fingerprint=fingerprint).exists():
        raise SigningKeyExists(details={"fingerprint": fingerprint})
    try:
        with transaction.atomic():
            return SigningKey.objects.for_org(organization).create(
                organization=organization,
                name=name.strip(),
                public_key=base64.b64encode(raw).decode("ascii"),
                fingerprint=fingerprint,
                created_by=_user_or_none(actor),
            )
    except IntegrityError as exc:
        raise SigningKeyExists(details={"fingerprint": fingerprint}) from exc


def signing_key_delete(*, signing_key: SigningKey, actor) -> None:
    signing_key.delete()


# --- app secrets ---------------------------------------------------------------------------------------

# The Kit's own rule for secret keys (pixell/core/secrets_utils.py: ^[A-Z0-9_]+$), so whatever
# `pixell secrets set` accepts, we accept.
SECRET_KEY_RE = re.compile(r"[A-Z0-9_]+")
MAX_SECRET_KEY_LENGTH = 128
MAX_SECRET_VALUE_LENGTH = 32 * 1024
MAX_SECRETS_PER_APP = 200


def _check_secret(key, value) -> None:
    if (
        not isinstance(key, str)
        or not SECRET_KEY_RE.fullmatch(key)
        or len(key) > MAX_SECRET_KEY_LENGTH
    ):
        raise ValidationError(
            f"Invalid secret key {str(key)[:64]!r}: use upper-case letters, digits and underscores",
            details={
                "key": [
                    f"Must match ^[A-Z0-9_]+$ and have at most {MAX_SECRET_KEY_LENGTH} characters."
                ]
            },
        )
    if not isinstance(value, str):
        raise ValidationError(
            f"The value of {key} must be a string", details={key: ["Must be a string."]}
        )
    if len(value) > MAX_SECRET_VALUE_LENGTH:
        raise ValidationError(
            f"The value of {key} is too long",
            details={key: [f"At most {MAX_SECRET_VALUE_LENGTH} characters."]},
        )


def app_secrets_replace(*, agent_app: AgentApp, secrets: dict) -> int:
    """POST …/secrets: the app's secrets become exactly ``secrets``. Returns their count."""
    if len(secrets) > MAX_SECRETS_PER_APP:
        raise ValidationError(
            f"At most {MAX_SECRETS_PER_APP} secrets per app",
            details={"secrets": ["Too many secrets."]},
        )
    for key, value in secrets.items():
        _check_secret(key, value)
    with transaction.atomic():
        AppSecret.objects.for_org(agent_app.organization_id).filter(agent_app=agent_app).delete()
        AppSecret.objects.for_org(agent_app.organization_id).bulk_create(
            [
                AppSecret(
                    organization_id=agent_app.organization_id,
                    agent_app=agent_app,
                    key=key,
                    value_encrypted=secret_encrypt(value),
                )
                for key, value in secrets.items()
            ]
        )
    return len(secrets)


def app_secret_set(*, agent_app: AgentApp, key: str, value: str) -> None:
    """PUT …/secrets/:key: create or replace one secret."""
    _check_secret(key, value)
    with transaction.atomic():
        # Lock the app so concurrent PUTs of new keys cannot overshoot the per-app cap.
        AgentApp.all_orgs.select_for_update().filter(pk=agent_app.pk).first()
        secrets = AppSecret.objects.for_org(agent_app.organization_id).filter(agent_app=agent_app)
        updated = secrets.filter(key=key).update(
            value_encrypted=secret_encrypt(value), updated_at=timezone.now()
        )
        if updated:
            return
        if secrets.count() >= MAX_SECRETS_PER_APP:
            raise ValidationError(
                f"At most {MAX_SECRETS_PER_APP} secrets per app",
                details={"secrets": ["Too many secrets."]},
            )
        AppSecret.objects.for_org(agent_app.organization_id).create(
            organization_id=agent_app.organization_id,
            agent_app=agent_app,
            key=key,
            value_encrypted=secret_encrypt(value),
        )


def app_secret_delete(*, agent_app: AgentApp, key: str) -> None:
    deleted, _ = (
        AppSecret.objects.for_org(agent_app.organization_id)
        .filter(agent_app=agent_app, key=key)
        .delete()
    )
    if not deleted:
        raise NotFound(f"Secret not found: {key[:128]}")


def app_secrets_delete_all(*, agent_app: AgentApp) -> int:
    deleted, _ = (
        AppSecret.objects.for_org(agent_app.organization_id).filter(agent_app=agent_app).delete()
    )
    return deleted
