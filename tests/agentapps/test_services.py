"""The package interface the deployments pipeline calls (agentapps/services.py), on both
storage backends: ingest (validate + store + hash, no rows), create (row, version rule, usage),
discard, dry-run validation."""

from __future__ import annotations

import hashlib

import pytest
from django.db import transaction

from agentapps import services
from agentapps.errors import PackageValidationFailed, VersionExists
from agentapps.models import Package, PackageStatus
from tests.agentapps.packages import apkg_bytes, upload
from usage.models import UsageEvent, UsageEventType

pytestmark = pytest.mark.django_db


def ingest(app, data, **kwargs):
    kwargs.setdefault("form_version", None)
    kwargs.setdefault("signature", None)
    return services.package_ingest(
        organization=app.organization, agent_app=app, upload=upload(data), **kwargs
    )


def test_ingest_stores_and_hashes_without_writing_rows(app, org, stored):
    data = apkg_bytes("1.2.3", padding=9 * 1024 * 1024)  # more than one 8 MiB S3 part

    ingested = ingest(app, data, form_version="1.2.3")

    assert ingested.storage_key == f"packages/{org.id}/{app.id}/1.2.3/{ingested.package_id}.apkg"
    assert (ingested.size, ingested.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert (ingested.version, ingested.manifest["name"], ingested.signed) == (
        "1.2.3",
        "my-agent",
        False,
    )
    assert stored.keys() == [ingested.storage_key]
    assert stored.read(ingested.storage_key) == data
    assert not Package.all_orgs.exists()


def test_ingest_refuses_invalid_packages_before_storing(app, stored):
    with pytest.raises(PackageValidationFailed) as refused:
        ingest(app, b"PK not really")
    assert refused.value.details == ["Invalid APKG format"]
    assert stored.keys() == []


def test_ingest_checks_the_version_before_storing_when_asked(app, stored):
    existing = services.package_upload(
        organization=app.organization, agent_app=app, actor=None, upload=upload(apkg_bytes())
    )
    with pytest.raises(VersionExists):
        ingest(app, apkg_bytes(), force_overwrite=False)
    assert stored.keys() == [existing.file.name]


def test_create_makes_the_row_and_records_the_upload(app, org):
    ingested = ingest(app, apkg_bytes("2.0.0"))

    with transaction.atomic():
        package = services.package_create(
            ingested=ingested,
            organization=org,
            agent_app=app,
            status=PackageStatus.UPLOADING,
            release_notes="notes",
            actor=None,
            force_overwrite=False,
        )

    assert package.id == ingested.package_id
    assert (package.status, package.version, package.file.name, package.release_notes) == (
        "uploading",
        "2.0.0",
        ingested.storage_key,
        "notes",
    )
    event = UsageEvent.objects.for_org(org).get(type=UsageEventType.PACKAGE_UPLOAD)
    assert event.metadata["package_id"] == str(package.id)


def test_create_rechecks_the_version_and_the_caller_discards(app, org, stored):
    # Two uploads of one version race: both ingest, one creates first.
    late = ingest(app, apkg_bytes("1.0.0"))
    early = services.package_upload(
        organization=org, agent_app=app, actor=None, upload=upload(apkg_bytes("1.0.0"))
    )

    with pytest.raises(VersionExists):
        services.package_create(
            ingested=late,
            organization=org,
            agent_app=app,
            status=PackageStatus.READY,
            force_overwrite=False,
        )
    services.package_discard_ingested(ingested=late)

    assert stored.keys() == [early.file.name]


def test_the_database_refuses_a_duplicate_live_version(app, org, monkeypatch):
    services.package_upload(
        organization=org, agent_app=app, actor=None, upload=upload(apkg_bytes("1.0.0"))
    )
    second = ingest(app, apkg_bytes("1.0.0"))
    # Even if the check were skipped (a race the lock did not cover), the partial unique index holds.
    monkeypatch.setattr(services, "package_check_version_free", lambda **kwargs: None)

    with pytest.raises(VersionExists):
        services.package_create(
            ingested=second, organization=org, agent_app=app, status=PackageStatus.READY
        )
    assert Package.all_orgs.count() == 1


def test_upload_removes_stored_bytes_when_the_row_cannot_be_written(app, org, stored, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("database trouble")

    monkeypatch.setattr(services, "usage_event_record", broken)
    with pytest.raises(RuntimeError):
        services.package_upload(
            organization=org, agent_app=app, actor=None, upload=upload(apkg_bytes())
        )
    assert stored.keys() == []
    assert not Package.all_orgs.exists()


def test_validate_only_stores_nothing(app, org, stored):
    good = services.package_validate_only(
        organization=org,
        agent_app=app,
        upload=upload(apkg_bytes("3.1.4")),
        form_version=None,
        signature=None,
    )
    bad = services.package_validate_only(
        organization=org, agent_app=app, upload=upload(b"nope"), form_version=None, signature=b"x"
    )

    assert (good.valid, good.errors, good.version, good.size) == (
        True,
        [],
        "3.1.4",
        len(apkg_bytes("3.1.4")),
    )
    assert bad.valid is False
    assert bad.errors == ["Invalid APKG format", "Invalid package signature"]
    assert stored.keys() == []


def test_check_version_free(app, org):
    assert (
        services.package_check_version_free(agent_app=app, version="1.0.0", force_overwrite=False)
        is None
    )
    package = services.package_upload(
        organization=org, agent_app=app, actor=None, upload=upload(apkg_bytes("1.0.0"))
    )
    with pytest.raises(VersionExists):
        services.package_check_version_free(agent_app=app, version="1.0.0", force_overwrite=False)
    assert (
        services.package_check_version_free(agent_app=app, version="1.0.0", force_overwrite=True)
        == package
    )
