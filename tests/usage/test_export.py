import csv
import io
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from freezegun import freeze_time

from tests.conftest import client_for
from tests.s3 import local_storage, moto_s3_endpoint, s3_storage  # noqa: F401 - fixtures
from usage.models import UsageEvent, UsageEventType, UsageExport
from usage.services import usage_event_record, usage_exports_purge
from usage.tasks import usage_exports_purge_task

pytestmark = pytest.mark.usefixtures("local_storage")


def _record(org, at, **kwargs):
    defaults = {
        "type": UsageEventType.INVOCATION,
        "description": "Agent 'Bot' invoked",
        "value": 2,
        "credits": 3,
    }
    return usage_event_record(organization=org, occurred_at=at, **{**defaults, **kwargs})


def _export(who, **body):
    """``who``: a client, or a user to sign in now (inside any frozen time: tokens carry their issue time)."""
    client = who if hasattr(who, "post") else client_for(who)
    payload = {"format": "csv", "startDate": "2026-01-01", "endDate": "2026-01-31", **body}
    return client.post("/api/usage/export", payload, format="json")


def _download(url: str) -> bytes:
    response = Client().get(urlsplit(url).path)  # no credentials at all
    assert response.status_code == 200, response.status_code
    return b"".join(response.streaming_content)


def test_csv_export_one_row_per_event_in_the_inclusive_range(admin_user, org, other_org, settings):
    settings.PIXELL_PUBLIC_URL = "https://cloud.example.com"
    inside = [
        _record(org, datetime(2026, 1, 1, 0, 0, tzinfo=UTC)),
        _record(
            org,
            datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC),
            type=UsageEventType.PACKAGE_UPLOAD,
            value=None,
            credits=0,
            description="Uploaded version 1.0.0 of 'X'",
            metadata={"version": "1.0.0"},
        ),
    ]
    _record(org, datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC))
    _record(org, datetime(2026, 2, 1, 0, 0, tzinfo=UTC))
    _record(other_org, datetime(2026, 1, 15, tzinfo=UTC))
    with freeze_time("2026-02-02T10:00:00Z"):
        response = _export(admin_user)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"downloadUrl", "expiresAt"}
    assert body["expiresAt"] == "2026-02-03T10:00:00Z"
    assert body["downloadUrl"].startswith("https://cloud.example.com/usage/exports/")
    with freeze_time("2026-02-02T11:00:00Z"):
        rows = list(csv.DictReader(io.StringIO(_download(body["downloadUrl"]).decode())))
    assert [r["id"] for r in rows] == [str(e.pk) for e in inside]
    first, second = rows
    assert first == {
        "id": str(inside[0].pk),
        "occurred_at": "2026-01-01T00:00:00Z",
        "type": "invocation",
        "description": "Agent 'Bot' invoked",
        "value": "2",
        "credits": "3",
        "agent_app_id": "",
        "metadata": "",
    }
    assert (second["value"], second["metadata"]) == ("", '{"version":"1.0.0"}')
    export = UsageExport.objects.for_org(org).get()
    assert export.storage_key.startswith(f"exports/{org.pk}/") and export.storage_key.endswith(
        ".csv"
    )
    assert export.rows == 2


def test_json_export(owner, org):
    event = _record(org, datetime(2026, 1, 10, tzinfo=UTC), metadata={"k": 1})
    with freeze_time("2026-02-01"):
        url = _export(owner, format="json").json()["downloadUrl"]
        data = json.loads(_download(url))
    assert data == {
        "events": [
            {
                "id": str(event.pk),
                "occurred_at": "2026-01-10T00:00:00Z",
                "type": "invocation",
                "description": "Agent 'Bot' invoked",
                "value": 2,
                "credits": 3,
                "agent_app_id": None,
                "metadata": {"k": 1},
            }
        ]
    }


def test_empty_range_exports_a_valid_empty_file(owner, org):
    with freeze_time("2026-02-01"):
        assert json.loads(_download(_export(owner, format="json").json()["downloadUrl"])) == {
            "events": []
        }
        assert _download(_export(owner).json()["downloadUrl"]).decode().strip() == ",".join(
            [
                "id",
                "occurred_at",
                "type",
                "description",
                "value",
                "credits",
                "agent_app_id",
                "metadata",
            ]
        )


def test_csv_cells_cannot_become_spreadsheet_formulas(owner, org):
    _record(
        org, datetime(2026, 1, 10, tzinfo=UTC), description='=HYPERLINK("http://evil")', value=-1
    )
    with freeze_time("2026-02-01"):
        (row,) = csv.DictReader(
            io.StringIO(_download(_export(owner).json()["downloadUrl"]).decode())
        )
    assert row["description"].startswith("'=") and row["value"] == "-1"


def test_link_expires_after_24_hours(owner, org):
    with freeze_time("2026-02-01T00:00:00Z"):
        url = _export(owner).json()["downloadUrl"]
    with freeze_time("2026-02-01T23:59:00Z"):
        assert Client().get(urlsplit(url).path).status_code == 200
    with freeze_time("2026-02-02T00:00:01Z"):
        assert Client().get(urlsplit(url).path).status_code == 404


def test_forged_or_tampered_link_is_404(owner, org):
    with freeze_time("2026-02-01"):
        path = urlsplit(_export(owner).json()["downloadUrl"]).path
        assert Client().get(path.replace("/exports/", "/exports/x")).status_code == 404
        export = UsageExport.objects.for_org(org).get()
        assert Client().get(f"/usage/exports/{export.pk}/").status_code == 404


def test_purge_removes_expired_files_once(owner, org, local_storage):
    with freeze_time("2026-02-01"):
        _export(owner)
    export = UsageExport.objects.for_org(org).get()
    assert (local_storage / export.storage_key).exists()
    with freeze_time("2026-02-01T12:00:00Z"):
        assert usage_exports_purge_task() == 0  # not expired yet
    with freeze_time("2026-02-03"):
        assert usage_exports_purge() == 1
        assert usage_exports_purge() == 0
    assert not (local_storage / export.storage_key).exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"format": "xml"}, "format"),
        ({"startDate": "2026-13-01"}, "startDate"),
        ({"endDate": "soon"}, "endDate"),
        ({"startDate": "2026-02-01", "endDate": "2026-01-31"}, "endDate"),
        ({"startDate": "2025-01-01", "endDate": "2026-01-02"}, "endDate"),  # 367 days
    ],
)
def test_export_validation_names_the_field(owner_client, body, field):
    response = _export(owner_client, **body)
    assert response.status_code == 400 and field in response.json()["details"]


def test_export_of_366_days_is_allowed(owner, org):
    with freeze_time("2026-02-01"):
        assert (
            _export(owner, startDate="2024-01-01", endDate="2024-12-31").status_code == 200
        )  # leap year


def test_export_needs_admin(member_client, api_key_client, admin_client, owner_client):
    for client in (member_client, api_key_client):
        response = _export(client)
        assert response.status_code == 403 and response.json()["code"] == "PERMISSION_DENIED"
    for client in (admin_client, owner_client):
        assert _export(client).status_code == 200


def test_export_never_holds_every_row_in_memory(owner, org, monkeypatch):
    """Rows come from a chunked database iterator, not a list of every event."""
    for i in range(5):
        _record(org, datetime(2026, 1, 2, tzinfo=UTC) + timedelta(hours=i))
    chunk_sizes = []
    original = type(UsageEvent.objects.for_org(org)).iterator

    def spy(self, chunk_size=None):
        chunk_sizes.append(chunk_size)
        return original(self, chunk_size=chunk_size)

    monkeypatch.setattr(type(UsageEvent.objects.for_org(org)), "iterator", spy)
    with freeze_time("2026-02-01"):
        assert _export(owner).status_code == 200
    assert chunk_sizes == [2000]


def test_s3_export_gets_a_presigned_url_valid_24_hours(owner_client, org, s3_storage):
    _record(org, datetime(2026, 1, 5, tzinfo=UTC))
    response = _export(owner_client)
    url = response.json()["downloadUrl"]
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Expires"] in (["86400"], ["86399"])
    (key,) = s3_storage.keys("exports/")
    assert key.startswith(f"exports/{org.pk}/") and key in url
    assert s3_storage.get(key).decode().count("\n") == 2


def test_export_ending_on_the_last_representable_day_is_not_a_500(owner, org):
    # endDate 9999-12-31: the exclusive bound (the next midnight) does not exist as a date.
    _record(org, datetime(9999, 12, 31, 12, tzinfo=UTC))
    response = _export(owner, format="json", startDate="9999-12-01", endDate="9999-12-31")
    assert response.status_code == 200
    assert len(json.loads(_download(response.json()["downloadUrl"]))["events"]) == 1
