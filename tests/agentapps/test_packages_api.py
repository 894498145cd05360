"""/api/agent-apps/:id/packages (docs/API.md §5, docs/CONTRACT.md §4) on both storage backends: upload, refusals
(nothing stored, no temporary file left, nothing charged), versions, list, delete, download links."""

from __future__ import annotations

import hashlib
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from agentapps import services, storage
from agentapps.apkg import INVALID_FORMAT
from agentapps.models import Package, PackageStatus
from agentapps.uploads import PackageUploadHandler
from billing.models import CreditTransaction
from tests.agentapps.packages import apkg_bytes, manifest, upload
from usage.models import UsageEvent, UsageEventType

pytestmark = pytest.mark.django_db


def url(app, suffix=""):
    return f"/api/agent-apps/{app.id}/packages{suffix}"


def post_package(client, app, data: bytes, **fields):
    return client.post(url(app), {"file": upload(data), **fields}, format="multipart")


def add_package(app, version="1.0.0", **kwargs):
    return services.package_upload(
        organization=app.organization,
        agent_app=app,
        actor=None,
        upload=upload(apkg_bytes(version)),
        **kwargs,
    )


# --- upload -------------------------------------------------------------------------------------------


def test_upload_stores_the_package_and_answers_the_seed_shape(owner_client, app, org, stored):
    data = apkg_bytes("1.0.1")

    response = post_package(owner_client, app, data, version="1.0.1")

    assert response.status_code == 201, response.json()
    body = response.json()["package"]
    assert set(body) == {
        "id",
        "version",
        "s3_url",
        "size",
        "sha256",
        "status",
        "created_at",
        "warnings",
    }
    assert body["version"] == "1.0.1"
    assert body["size"] == len(data)
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["status"] == "ready"
    key = f"packages/{org.id}/{app.id}/1.0.1/{body['id']}.apkg"
    assert stored.keys() == [key]
    assert stored.read(key) == data
    package = Package.objects.for_org(org).get(pk=body["id"])
    assert (package.file.name, package.sha256, package.manifest["name"]) == (
        key,
        body["sha256"],
        "my-agent",
    )
    event = UsageEvent.objects.for_org(org).get(type=UsageEventType.PACKAGE_UPLOAD)
    assert event.description == "Uploaded version 1.0.1 of 'Support Bot'"
    assert event.agent_app_id == app.id


def test_the_manifest_version_is_used_when_the_form_has_none(owner_client, app):
    response = post_package(owner_client, app, apkg_bytes("2.3.4"))
    assert response.status_code == 201
    assert response.json()["package"]["version"] == "2.3.4"


def test_warnings_are_kept_and_shown(owner_client, app, org):
    data = apkg_bytes(env="OPENAI_API_KEY=sk-abcdefghijklmnopqrstuvwxyz0123456789\n")
    response = post_package(owner_client, app, data)
    assert response.status_code == 201
    warnings = response.json()["package"]["warnings"]
    assert warnings and any(".env" in w for w in warnings)
    assert Package.objects.for_org(org).get().warnings == warnings


def test_member_and_api_key_may_upload(member_client, api_key_client, app):
    assert post_package(member_client, app, apkg_bytes("1.0.0")).status_code == 201
    assert post_package(api_key_client, app, apkg_bytes("1.0.1")).status_code == 201


def test_uploading_to_another_organizations_app_is_404(other_client, app, stored):
    response = post_package(other_client, app, apkg_bytes())
    assert response.status_code == 404
    assert stored.keys() == []


# --- refusals ---------------------------------------------------------------------------------------


def _nothing_happened(stored, org, credits_before):
    assert stored.keys() == []
    assert not Package.all_orgs.exists()
    assert not UsageEvent.objects.for_org(org).filter(type=UsageEventType.PACKAGE_UPLOAD).exists()
    org.refresh_from_db()
    assert org.credits == credits_before
    assert CreditTransaction.objects.for_org(org).count() == 1  # the signup bonus only


@pytest.mark.parametrize(
    "data, fields, expected",
    [
        (b"this is not a zip archive", {}, [INVALID_FORMAT]),
        (apkg_bytes("1.0.0"), {"version": "1.0.1"}, ["1.0.1"]),
        (apkg_bytes(with_manifest=False), {}, ["Missing required manifest"]),
    ],
    ids=["not-a-zip", "version-mismatch", "no-manifest"],
)
def test_invalid_packages_are_refused_with_their_reasons(
    owner_client, app, org, stored, data, fields, expected
):
    credits = org.credits

    response = post_package(owner_client, app, data, **fields)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "PACKAGE_VALIDATION_FAILED"
    assert body["error"] == "Package validation failed"
    assert isinstance(body["details"], list) and all(isinstance(d, str) for d in body["details"])
    for fragment in expected:
        assert any(fragment in reason for reason in body["details"]), body["details"]
    _nothing_happened(stored, org, credits)


def test_every_reason_is_reported_not_just_the_first(owner_client, app):
    bad = manifest("1.0", capabilities="chat", name="Bad Name", entrypoint=...)
    response = post_package(
        owner_client, app, apkg_bytes(manifest_data=bad, extra=(("../evil.py", b"x"),))
    )

    assert response.status_code == 400
    details = response.json()["details"]
    assert len(details) >= 4, details
    text = " | ".join(details)
    for fragment in ("version", "capabilities", "name", "../evil.py"):
        assert fragment in text


@pytest.mark.parametrize(
    "fields, field",
    [
        ({}, "file"),
        ({"file": "just text"}, "file"),
        ({"file": upload(b"")}, "file"),
        ({"file": upload(apkg_bytes()), "force_overwrite": "maybe"}, "force_overwrite"),
        ({"file": upload(apkg_bytes()), "version": "x" * 65}, "version"),
    ],
    ids=["no-file", "file-as-text", "empty-file", "bad-boolean", "long-version"],
)
def test_malformed_forms_are_clear_400s(owner_client, app, fields, field):
    response = owner_client.post(url(app), fields, format="multipart")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert field in body["details"]


def test_a_json_body_is_a_clear_400(owner_client, app):
    response = owner_client.post(url(app), {"file": "abc", "version": "1.0.0"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert "file" in response.json()["details"]


def test_refused_uploads_leave_no_temporary_file(owner_client, app, settings, tmp_path):
    temp_dir = tmp_path / "uploads"
    temp_dir.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(temp_dir)
    big_invalid = apkg_bytes(
        with_manifest=False, padding=3 * 1024 * 1024
    )  # > 2 MiB: streamed to disk

    response = post_package(owner_client, app, big_invalid)

    assert response.status_code == 400
    assert list(temp_dir.iterdir()) == []
    # An accepted one too: Django removes its temporary file at the end of the request.
    assert post_package(owner_client, app, apkg_bytes(padding=3 * 1024 * 1024)).status_code == 201
    assert list(temp_dir.iterdir()) == []


def test_packages_over_the_size_limit_are_refused_without_storing_them(
    owner_client, app, org, settings, stored, tmp_path
):
    settings.PIXELL_MAX_PACKAGE_BYTES = 1024 * 1024
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    credits = org.credits

    response = post_package(owner_client, app, apkg_bytes(padding=3 * 1024 * 1024))

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "PACKAGE_VALIDATION_FAILED"
    assert body["details"] == ["Package is larger than the 1 MiB limit (1,048,576 bytes)"]
    _nothing_happened(stored, org, credits)
    assert [p for p in tmp_path.iterdir() if p.name.endswith(".upload")] == []


@pytest.mark.parametrize(
    "request_length", [1024, 10 * 1024 * 1024], ids=["in-memory", "temporary-file"]
)
def test_the_upload_handler_hashes_and_stops_writing_past_the_limit(rf, settings, request_length):
    settings.PIXELL_MAX_PACKAGE_BYTES = 100
    request = rf.post("/")
    handler = PackageUploadHandler(request)
    handler.handle_raw_input(None, {}, request_length, b"boundary")
    handler.new_file("file", "agent.apkg", "application/octet-stream", None)

    for start, chunk in ((0, b"a" * 60), (60, b"b" * 30), (90, b"c" * 60)):
        assert handler.receive_data_chunk(chunk, start) is None
    uploaded = handler.file_complete(150)

    # What crosses the limit never reaches memory or disk; what was kept is hashed as it arrived.
    assert request._pixell_upload_too_large == {"file": 100}
    assert uploaded.size == 90 and uploaded.read() == b"a" * 60 + b"b" * 30
    assert uploaded.pixell_sha256 == hashlib.sha256(b"a" * 60 + b"b" * 30).hexdigest()
    assert hasattr(uploaded, "temporary_file_path") is (
        request_length > settings.FILE_UPLOAD_MAX_MEMORY_SIZE
    )
    uploaded.close()


def test_the_upload_handler_removes_its_file_when_parsing_is_interrupted(rf, settings, tmp_path):
    tmp_path = tmp_path / "uploads"
    tmp_path.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    handler = PackageUploadHandler(rf.post("/"))
    handler.handle_raw_input(None, {}, 10 * 1024 * 1024, b"boundary")
    handler.new_file("file", "agent.apkg", "application/octet-stream", None)
    handler.receive_data_chunk(b"x" * 1000, 0)
    assert len(list(tmp_path.iterdir())) == 1

    handler.upload_interrupted()

    assert list(tmp_path.iterdir()) == []


def test_file_content_does_not_count_against_data_upload_max_memory_size(
    owner_client, app, settings
):
    # DATA_UPLOAD_MAX_MEMORY_SIZE (10 MiB) bounds non-file fields only: shrunk far below the package
    # sizes here, it still refuses nothing, in memory (< 2 MiB) or streamed to disk (> 2 MiB); so a
    # 100 MiB package passes (benchmarks/package_upload.py sends one).
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    small = post_package(
        owner_client, app, apkg_bytes("1.0.0", padding=256 * 1024), release_notes="fine"
    )
    large = post_package(
        owner_client, app, apkg_bytes("2.0.0", padding=3 * 1024 * 1024), release_notes="fine"
    )
    assert (small.status_code, large.status_code) == (201, 201)


# --- versions -----------------------------------------------------------------------------------------


def test_an_existing_version_is_409_and_nothing_is_stored(owner_client, app, org, stored):
    first = post_package(owner_client, app, apkg_bytes("1.0.0")).json()["package"]

    response = post_package(owner_client, app, apkg_bytes("1.0.0"))

    assert response.status_code == 409
    assert response.json()["code"] == "VERSION_EXISTS"
    assert stored.keys() == [f"packages/{org.id}/{app.id}/1.0.0/{first['id']}.apkg"]
    assert Package.all_orgs.count() == 1


def test_a_version_being_deployed_counts(owner_client, app):
    add_package(app, "1.0.0")
    Package.all_orgs.update(status=PackageStatus.UPLOADING)
    assert post_package(owner_client, app, apkg_bytes("1.0.0")).status_code == 409


@pytest.mark.parametrize("make_free", ["deleted", "failed"])
def test_a_deleted_or_failed_version_is_free_again(owner_client, app, make_free):
    package = add_package(app, "1.0.0")
    if make_free == "deleted":
        services.package_delete(package=package, actor=None)
    else:
        Package.all_orgs.filter(pk=package.pk).update(status=PackageStatus.FAILED)
    assert post_package(owner_client, app, apkg_bytes("1.0.0")).status_code == 201


def test_force_overwrite_replaces_the_version(
    owner_client, app, org, stored, django_capture_on_commit_callbacks
):
    old = add_package(app, "1.0.0")

    with django_capture_on_commit_callbacks(execute=True):
        response = post_package(
            owner_client,
            app,
            apkg_bytes("1.0.0", extra=(("README.md", b"new"),)),
            force_overwrite="true",
        )

    assert response.status_code == 201
    new_id = response.json()["package"]["id"]
    old.refresh_from_db()
    assert old.deleted_at is not None
    assert stored.keys() == [
        f"packages/{org.id}/{app.id}/1.0.0/{new_id}.apkg"
    ]  # the old file is gone
    listed = owner_client.get(url(app)).json()["packages"]
    assert [p["id"] for p in listed] == [new_id]


def test_the_same_version_in_another_app_is_independent(owner_client, app, org):
    from agentapps.models import AgentApp

    second = AgentApp.objects.for_org(org).create(organization=org, name="Second")
    add_package(app, "1.0.0")
    assert post_package(owner_client, second, apkg_bytes("1.0.0")).status_code == 201


# --- list ---------------------------------------------------------------------------------------------


def test_list_is_newest_first_and_paginated(owner_client, app, django_assert_max_num_queries):
    made = [add_package(app, f"1.0.{i}") for i in range(3)]
    owner_client.get(url(app))  # warm up the per-request bookkeeping (API-call counters)

    # Caller, membership, app, one page of packages (+ usage counting): no query per package.
    with django_assert_max_num_queries(6):
        first = owner_client.get(url(app), {"limit": 2})
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"packages", "next_cursor"}
    assert [p["id"] for p in body["packages"]] == [str(made[2].id), str(made[1].id)]
    assert set(body["packages"][0]) == {
        "id",
        "version",
        "s3_url",
        "size",
        "sha256",
        "status",
        "created_at",
    }
    second = owner_client.get(url(app), {"limit": 2, "cursor": body["next_cursor"]}).json()
    assert [p["id"] for p in second["packages"]] == [str(made[0].id)]
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": "x"}, {"limit": 101}, {"cursor": "forged"}]
)
def test_bad_pagination_parameters_are_400(owner_client, app, params):
    response = owner_client.get(url(app), params)
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


# --- delete ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "who, status", [("owner", 200), ("admin", 200), ("member", 403), ("api_key", 403)]
)
def test_deleting_a_package_needs_admin(role_clients, who, status, app):
    package = add_package(app)
    response = role_clients[who].delete(url(app, f"/{package.id}"))
    assert response.status_code == status
    if status == 200:
        assert response.json() == {"message": "Package deleted successfully"}


def test_deleting_a_package_removes_its_file_and_hides_it(
    admin_client, app, org, stored, django_capture_on_commit_callbacks
):
    package = add_package(app)
    keep = add_package(app, "2.0.0")

    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.delete(url(app, f"/{package.id}")).status_code == 200

    package.refresh_from_db()
    assert package.deleted_at is not None  # the row stays for deployment history
    assert stored.keys() == [keep.file.name]
    assert [p["id"] for p in admin_client.get(url(app)).json()["packages"]] == [str(keep.id)]
    assert admin_client.delete(url(app, f"/{package.id}")).status_code == 404


def test_a_package_being_deployed_cannot_be_deleted(admin_client, app):
    package = add_package(app)
    Package.all_orgs.filter(pk=package.pk).update(status=PackageStatus.UPLOADING)
    response = admin_client.delete(url(app, f"/{package.id}"))
    assert response.status_code == 409
    assert response.json()["code"] == "CONFLICT"


def test_package_routes_are_scoped_to_organization_and_app(owner_client, other_client, app, org):
    from agentapps.models import AgentApp

    package = add_package(app)
    second = AgentApp.objects.for_org(org).create(organization=org, name="Second")
    assert other_client.delete(url(app, f"/{package.id}")).status_code == 404
    assert owner_client.delete(url(second, f"/{package.id}")).status_code == 404
    assert owner_client.delete(url(app, "/not-a-uuid")).status_code == 404
    assert Package.all_orgs.get(pk=package.pk).deleted_at is None


# --- download links -------------------------------------------------------------------------------------


def _local_path(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def test_local_download_link_streams_the_package_without_credentials(
    owner_client, anon_client, app
):
    data = apkg_bytes("1.0.0")
    link = post_package(owner_client, app, data).json()["package"]["s3_url"]

    response = anon_client.get(_local_path(link))

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == data
    assert response["Content-Disposition"] == 'attachment; filename="my-agent-1.0.0.apkg"'
    assert response["Content-Length"] == str(len(data))


def test_tampered_and_expired_local_links_are_refused(owner_client, anon_client, app):
    package = add_package(app)
    link = post_package(owner_client, app, apkg_bytes("2.0.0")).json()["package"]["s3_url"]
    parts = urlsplit(link)
    query = parse_qs(parts.query)
    expires, sig = query["expires"][0], query["sig"][0]
    past = int(time.time()) - 1
    attempts = [
        f"{parts.path}?expires={expires}&sig={'0' * len(sig)}",  # forged signature
        f"{parts.path}?expires={int(expires) + 3600}&sig={sig}",  # extended expiry
        f"/api/packages/{package.id}/download?expires={expires}&sig={sig}",  # another package
        f"{parts.path}?expires={past}&sig={storage.download_signature(parts.path.split('/')[3], past)}",  # expired
        f"{parts.path}",  # nothing
    ]
    for attempt in attempts:
        response = anon_client.get(attempt)
        assert response.status_code == 403, attempt
        assert response.json()["code"] == "PERMISSION_DENIED"


def test_a_deleted_packages_local_link_is_404(
    owner_client, anon_client, app, django_capture_on_commit_callbacks
):
    package = add_package(app)
    link = owner_client.get(url(app)).json()["packages"][0]["s3_url"]
    with django_capture_on_commit_callbacks(execute=True):
        services.package_delete(package=package, actor=None)

    response = anon_client.get(_local_path(link))

    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


def test_links_built_without_a_request_use_the_public_url(app, settings):
    settings.PIXELL_PUBLIC_URL = "https://cloud.example.com"
    package = add_package(app)
    assert services.package_download_url(package=package).startswith(
        f"https://cloud.example.com/api/packages/{package.id}/download?"
    )


def test_s3_links_are_presigned_and_stop_working_when_deleted(
    owner_client, app, s3_storage, django_capture_on_commit_callbacks
):
    data = apkg_bytes("1.0.0")
    body = post_package(owner_client, app, data).json()["package"]
    link = body["s3_url"]
    assert (
        link.startswith(s3_storage.endpoint)
        and "X-Amz-Signature=" in link
        and "X-Amz-Expires=3600" in link
    )

    fetched = requests.get(link, timeout=10)
    assert fetched.status_code == 200
    assert fetched.content == data

    with django_capture_on_commit_callbacks(execute=True):
        services.package_delete(package=Package.all_orgs.get(pk=body["id"]), actor=None)
    assert s3_storage.keys() == []
    # S3 answers a presigned GET of a missing object with 403 or 404 (depending on list rights).
    assert requests.get(link, timeout=10).status_code in (403, 404)


def test_package_file_open_reads_the_stored_bytes(app, stored):
    data = apkg_bytes("1.0.0", padding=9 * 1024 * 1024)  # > one 8 MiB S3 part
    package = services.package_upload(
        organization=app.organization, agent_app=app, actor=None, upload=upload(data)
    )
    with services.package_file_open(package=package) as fh:
        assert fh.read() == data
    assert package.sha256 == hashlib.sha256(data).hexdigest()


def test_a_large_upload_is_renamed_into_local_storage_not_copied(owner_client, app, monkeypatch):
    # Hashed while it arrived, the temporary file is moved into MEDIA_ROOT: no second read.
    from django.core.files.storage import filesystem

    moved = []
    real_move = filesystem.file_move_safe
    monkeypatch.setattr(
        filesystem,
        "file_move_safe",
        lambda old, new, **kw: (moved.append(new), real_move(old, new, **kw)),
    )
    data = apkg_bytes(padding=3 * 1024 * 1024)

    body = post_package(owner_client, app, data).json()["package"]

    assert len(moved) == 1 and moved[0].endswith(f"{body['id']}.apkg")
    assert body["sha256"] == hashlib.sha256(data).hexdigest()


def test_signed_local_download_links_are_not_counted_against_the_anonymous_limit(
    owner_client, app, settings
):
    # A runtime fetching packages from a development server must not be throttled: the signed
    # link is its own authorization. An unsigned or tampered request is still counted.
    from rest_framework.test import APIClient

    link = _local_path(
        post_package(owner_client, app, apkg_bytes("1.0.0")).json()["package"]["s3_url"]
    )
    settings.PIXELL_RATE_LIMIT_ANONYMOUS = "2/m"
    runtime = APIClient(REMOTE_ADDR="10.6.0.1")
    assert [runtime.get(link).status_code for _ in range(5)] == [200] * 5
    tampered = link.replace("sig=", "sig=0")
    statuses = [runtime.get(tampered).status_code for _ in range(3)]
    assert statuses[-1] == 429
