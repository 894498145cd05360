"""The runtime's and cron's endpoints (pixell/api/machine.py): a rate limit of their own, counted
only for the right secret, and wrong secrets throttled per client address."""

import ipaddress

import pytest
from rest_framework.test import APIClient

from agentapps.models import AgentApp

pytestmark = pytest.mark.django_db

RUNTIME_SECRET = "runtime-secret-0123456789abcdef-0123456789"
CRON_SECRET = "cron-secret-0123456789abcdef-0123456789abc"
CRON = "/api/cron/process-deployments"
INVOCATIONS = "/api/runtime/invocations"


@pytest.fixture(autouse=True)
def _secrets(settings):
    settings.PIXELL_RUNTIME_SECRET = RUNTIME_SECRET
    settings.CRON_SECRET = CRON_SECRET
    settings.PIXELL_RATE_LIMIT_RUNTIME = "1000/m"
    settings.PIXELL_RATE_LIMIT_CRON = "1000/m"
    settings.PIXELL_MACHINE_SECRET_FAILURES = "3/h"


def _report(app, n):
    return {
        "id": f"inv-{n}",
        "agent_app_id": str(app.pk),
        "count": 1,
        "credits": 0,
        "timestamp": "2026-03-04T05:06:07Z",
    }


def _runtime(address="10.9.0.1", secret=RUNTIME_SECRET, **extra):
    return APIClient(REMOTE_ADDR=address, HTTP_AUTHORIZATION=f"Bearer {secret}", **extra)


def _cron(address="10.9.0.1", secret=CRON_SECRET, **extra):
    return APIClient(REMOTE_ADDR=address, HTTP_X_CRON_SECRET=secret, **extra)


def _assert_429(response):
    assert response.status_code == 429
    assert response.json()["code"] == "RATE_LIMITED"
    assert set(response.json()) == {"error", "code", "details"}
    assert int(response["Retry-After"]) >= 1


def test_runtime_reports_are_limited(settings, org):
    settings.PIXELL_RATE_LIMIT_RUNTIME = "2/m"
    app = AgentApp.all_orgs.create(organization=org, name="Bot")
    first = _runtime().post(INVOCATIONS, _report(app, 1), format="json")
    assert first.status_code == 200
    assert (first["X-RateLimit-Limit"], first["X-RateLimit-Remaining"]) == ("2", "1")
    assert _runtime().post(INVOCATIONS, _report(app, 2), format="json").status_code == 200
    third = _runtime().post(INVOCATIONS, _report(app, 3), format="json")
    _assert_429(third)
    assert third["X-RateLimit-Remaining"] == "0"


def test_cron_is_limited(settings):
    settings.PIXELL_RATE_LIMIT_CRON = "2/m"
    for _ in range(2):
        response = _cron().post(CRON)
        assert response.status_code == 200 and response["X-RateLimit-Limit"] == "2"
    _assert_429(_cron().post(CRON))


@pytest.mark.parametrize(
    ("client", "path"),
    [(_runtime, INVOCATIONS), (_cron, CRON)],
    ids=["runtime", "cron"],
)
def test_wrong_secrets_are_throttled_per_address(client, path):
    for _ in range(3):
        assert client("10.9.1.1", secret="wrong").post(path, {}, format="json").status_code == 401
    _assert_429(client("10.9.1.1", secret="wrong").post(path, {}, format="json"))
    # Another address is not affected.
    assert client("10.9.1.2", secret="wrong").post(path, {}, format="json").status_code == 401


def test_failures_count_across_both_endpoints_and_missing_secrets():
    assert APIClient(REMOTE_ADDR="10.9.2.1").post(CRON).status_code == 401
    assert APIClient(REMOTE_ADDR="10.9.2.1").post(INVOCATIONS, {}).status_code == 401
    assert _cron("10.9.2.1", secret="wrong").post(CRON).status_code == 401
    _assert_429(_runtime("10.9.2.1", secret="wrong").post(INVOCATIONS, {}, format="json"))


def test_right_secret_still_passes_from_a_throttled_address(org):
    # A stranger behind the runtime's address (a NAT) cannot stop its reports.
    for _ in range(4):
        _runtime("10.9.3.1", secret="wrong").post(INVOCATIONS, {}, format="json")
    app = AgentApp.all_orgs.create(organization=org, name="Bot")
    assert _runtime("10.9.3.1").post(INVOCATIONS, _report(app, 1), format="json").status_code == 200
    assert _cron("10.9.3.1").post(CRON).status_code == 200


def test_wrong_secrets_do_not_use_up_the_runtimes_allowance(settings, org):
    settings.PIXELL_RATE_LIMIT_RUNTIME = "2/m"
    for n in range(10):
        _runtime(f"10.9.4.{n}", secret="wrong").post(INVOCATIONS, {}, format="json")
    app = AgentApp.all_orgs.create(organization=org, name="Bot")
    assert _runtime().post(INVOCATIONS, _report(app, 1), format="json").status_code == 200


def test_behind_a_trusted_proxy_failures_count_per_forwarded_client(settings):
    settings.PIXELL_TRUSTED_PROXIES = (ipaddress.ip_network("10.0.0.0/8"),)
    for _ in range(4):
        last = _cron("10.0.0.1", secret="wrong", HTTP_X_FORWARDED_FOR="203.0.113.5").post(CRON)
    _assert_429(last)
    other = _cron("10.0.0.1", secret="wrong", HTTP_X_FORWARDED_FOR="203.0.113.6").post(CRON)
    assert other.status_code == 401


def test_no_secret_configured_refuses_everyone(settings):
    settings.CRON_SECRET = None
    settings.PIXELL_RUNTIME_SECRET = None
    assert _cron(secret="").post(CRON).status_code == 401
    assert _runtime(secret="").post(INVOCATIONS, {}, format="json").status_code == 401
