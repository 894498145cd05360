"""With DEBUG off, one JSON object per line; the request's line names id, method, path, status,
duration, organization and client; URL tokens never reach the log."""

import io
import json
import logging

import pytest
from django.conf import settings

from pixell.observability.logs import ContextFilter, PixellJsonFormatter
from pixell.observability.redaction import redact_path, redact_url
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def json_lines():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(PixellJsonFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous = logging.getLogger("pixell.request").level
    logging.getLogger("pixell.request").setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        logging.getLogger("pixell.request").setLevel(previous)


def test_production_settings_log_json():
    # tests/settings.py runs with DEBUG off, like production.
    assert settings.LOGGING["formatters"]["default"]["()"].endswith("PixellJsonFormatter")
    assert settings.LOGGING["handlers"]["console"]["filters"] == ["context"]


def _request_lines(lines):
    return [line for line in lines if line["logger"] == "pixell.request"]


def test_request_line_is_json_with_its_fields(json_lines, owner, org):
    response = client_for(owner, org=org).get(
        "/api/agent-apps", HTTP_X_REQUEST_ID="trace-1", REMOTE_ADDR="10.1.2.3"
    )
    assert response.status_code == 200
    (line,) = _request_lines(json_lines())
    assert line["request_id"] == "trace-1"
    assert line["method"] == "GET"
    assert line["path"] == "/api/agent-apps"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float)
    assert line["organization"] == str(org.id)
    assert line["client"] == "10.1.2.3"
    assert line["level"] == "INFO"


def test_tokens_in_paths_never_logged(json_lines, anon_client):
    anon_client.get("/invitations/SECRETTOKEN123/")
    anon_client.get("/reset-password/MQ/SECRETTOKEN456/")
    anon_client.get("/verify-email/SECRETKEY789/")
    anon_client.get("/usage/exports/SECRETEXPORT/?token=abc")
    text = json.dumps(json_lines())
    for secret in ("SECRETTOKEN123", "SECRETTOKEN456", "SECRETKEY789", "SECRETEXPORT", "MQ/"):
        assert secret not in text
    paths = [line["path"] for line in _request_lines(json_lines())]
    assert "/invitations/[redacted]/" in paths


def test_a_500_on_a_mailed_link_does_not_log_its_token(json_lines, monkeypatch, db):
    from django.test import Client

    from organizations import selectors

    def boom(**kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(selectors, "invitation_get_by_token", boom)
    response = Client(raise_request_exception=False).get("/invitations/SECRET500TOKEN/?x=1")
    assert response.status_code == 500
    lines = json_lines()
    (error,) = [line for line in lines if line["logger"] == "django.request"]
    assert error["message"] == "Internal Server Error: /invitations/[redacted]/"
    assert error["request"] == "GET /invitations/[redacted]/?x=1"
    assert "SECRET500TOKEN" not in json.dumps(lines)


def test_authorization_header_never_logged(json_lines, owner, org):
    client_for(owner, org=org).get("/api/agent-apps")
    text = json.dumps(json_lines())
    assert "Bearer" not in text


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/reset-password/abc/def-123/", "/reset-password/[redacted]/[redacted]/"),
        ("/verify-email/k/", "/verify-email/[redacted]/"),
        ("/invitations/t", "/invitations/[redacted]"),
        ("/usage/exports/x/", "/usage/exports/[redacted]/"),
        ("/api/agent-apps?page=2", "/api/agent-apps?page=2"),
        ("/x?token=abc&page=2", "/x?token=[redacted]&page=2"),
        # Signed package links (the runtime's packageUrl, webhooks' s3_url) are valid for an hour.
        (
            "/api/agent-apps/1/packages/2/download?expires=9&sig=abcdef",
            "/api/agent-apps/1/packages/2/download?expires=9&sig=[redacted]",
        ),
        (
            "/b/k.apkg?X-Amz-Credential=AK%2F1&X-Amz-Signature=ab&X-Amz-Security-Token=t&x=1",
            "/b/k.apkg?X-Amz-Credential=[redacted]&X-Amz-Signature=[redacted]"
            "&X-Amz-Security-Token=[redacted]&x=1",
        ),
        ("/dashboard/", "/dashboard/"),
        # The invitation page's sign-in link carries the invitation's path in ?next.
        ("/login/?next=%2Finvitations%2Ftok%2F", "/login/?next=/invitations/[redacted]/"),
        (
            "/login/?a=1&next=/reset-password/u/t/",
            "/login/?a=1&next=/reset-password/[redacted]/[redacted]/",
        ),
        ("/login/?next=%2Fdashboard%2F", "/login/?next=%2Fdashboard%2F"),
    ],
)
def test_redact_path(path, expected):
    assert redact_path(path) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://pixell.example/reset-password/MQ/tok/",
            "https://pixell.example/reset-password/[redacted]/[redacted]/",
        ),
        (
            "http://h:4000/login/?next=%2Finvitations%2Ftok%2F",
            "http://h:4000/login/?next=/invitations/[redacted]/",
        ),
        ("https://pixell.example/dashboard/?page=2", "https://pixell.example/dashboard/?page=2"),
        ("/verify-email/k/", "/verify-email/[redacted]/"),
    ],
)
def test_redact_url(url, expected):
    assert redact_url(url) == expected


def test_worker_lines_carry_task_and_deployment(json_lines):
    from pixell.observability.context import deployment_id_var, task_name_var

    t1 = task_name_var.set("deployments.tasks.deployment_process_task")
    t2 = deployment_id_var.set("dep-9")
    try:
        logging.getLogger("deployments.pipeline").warning("step failed")
    finally:
        deployment_id_var.reset(t2)
        task_name_var.reset(t1)
    (line,) = [x for x in json_lines() if x["message"] == "step failed"]
    assert line["task"] == "deployments.tasks.deployment_process_task"
    assert line["deployment_id"] == "dep-9"


def test_gunicorn_access_log_redacts_tokens():
    from types import SimpleNamespace

    from pixell import gunicorn_conf

    logger = gunicorn_conf.logger_class.__new__(gunicorn_conf.logger_class)
    original = gunicorn_conf.logger_class.__mro__[1].atoms

    def fake_atoms(self, resp, req, environ, request_time):
        return {
            "r": "GET /reset-password/MQ/tok-1/?token=t2 HTTP/1.1",
            "U": "/reset-password/MQ/tok-1/",
            "q": "token=t2&page=1",
        }

    try:
        gunicorn_conf.logger_class.__mro__[1].atoms = fake_atoms
        atoms = logger.atoms(SimpleNamespace(), SimpleNamespace(), {}, None)
    finally:
        gunicorn_conf.logger_class.__mro__[1].atoms = original
    assert "tok-1" not in str(atoms) and "t2" not in str(atoms) and "MQ" not in str(atoms)
    assert atoms["r"] == "GET /reset-password/[redacted]/[redacted]/?token=[redacted] HTTP/1.1"
    assert atoms["q"] == "token=[redacted]&page=1"


def test_gunicorn_access_line_in_the_default_format_carries_no_token(capsys):
    """gunicorn's own atoms and its default format (which logs the Referer): a page opened from a
    mailed link names it in the Referer of the requests it makes next."""
    import datetime
    from types import SimpleNamespace

    from gunicorn.config import Config

    from pixell import gunicorn_conf

    cfg = Config()
    cfg.set("accesslog", "-")
    logger = gunicorn_conf.logger_class(cfg)
    environ = {
        "REQUEST_METHOD": "POST",
        "RAW_URI": "/login/?next=%2Finvitations%2FINVTOKEN%2F",
        "PATH_INFO": "/login/",
        "QUERY_STRING": "next=%2Finvitations%2FINVTOKEN%2F",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.0.0.1",
        "HTTP_REFERER": "https://pixell.example/reset-password/MQ/RESETTOKEN/",
        "HTTP_USER_AGENT": "test",
    }
    request = SimpleNamespace(
        headers=[("REFERER", environ["HTTP_REFERER"]), ("USER-AGENT", "test")]
    )
    response = SimpleNamespace(status="302 Found", headers=[], sent=0)
    logger.access(response, request, environ, datetime.timedelta(milliseconds=5))
    logged = capsys.readouterr()
    line = logged.out + logged.err
    assert "POST /login/?next=/invitations/[redacted]/ HTTP/1.1" in line, line
    assert "https://pixell.example/reset-password/[redacted]/[redacted]/" in line
    assert "INVTOKEN" not in line and "RESETTOKEN" not in line and "MQ" not in line
