"""The app page's runtime panel, the "live" badge and the Try-it form (runtime client stubbed;
tests/runtime/test_local_runtime.py runs the real runtime)."""

from __future__ import annotations

import pytest

from runtime import client
from tests.dashboard.conftest import member_page, owner_page  # noqa: F401 - fixtures
from tests.factories import AgentAppFactory, PackageFactory
from usage.models import UsageEvent


@pytest.fixture
def app(org):
    return AgentAppFactory(organization=org)


def _running(version):
    return lambda app_id: {
        "status": "running",
        "version": version,
        "deployment_id": None,
        "started_at": "2026-12-04T20:00:00Z",
        "log_tail": ["agent host (uvicorn) on 127.0.0.1:5000", "hello <b>from</b> the agent"],
    }


def test_panel_shows_the_running_version_and_its_output(owner_page, app, org, monkeypatch):
    package = PackageFactory(organization=org, agent_app=app, version="1.0.0")
    app.current_package = package
    app.save(update_fields=["current_package"])
    monkeypatch.setattr(client, "app_status", _running("1.0.0"))
    html = owner_page.get(f"/dashboard/apps/{app.id}/").content.decode()
    assert 'data-testid="runtime"' in html and "running" in html
    assert "hello &lt;b&gt;from&lt;/b&gt; the agent" in html  # output is escaped
    assert '<span class="badge completed">live</span>' in html


def test_badge_is_not_live_when_nothing_runs(owner_page, app, org, settings):
    settings.PIXELL_RUNTIME_URL = None
    package = PackageFactory(organization=org, agent_app=app, version="1.0.0")
    app.current_package = package
    app.save(update_fields=["current_package"])
    html = owner_page.get(f"/dashboard/apps/{app.id}/").content.decode()
    assert ">live</span>" not in html
    assert ">current</span>" in html and "No version of this app runs" in html


def test_try_it_invokes_and_shows_answer_duration_and_cost(member_page, app, org, monkeypatch):
    monkeypatch.setattr(client, "app_status", _running("1.0.0"))
    calls = []

    def invoke(app_id, body, *, timeout):
        calls.append(body)
        return client.AgentAnswer(
            body={"status": "success", "data": {"greeting": "hi Ada"}, "error": None},
            version="1.0.0",
            deployment_id="d",
        )

    monkeypatch.setattr(client, "invoke", invoke)
    response = member_page.post(
        f"/dashboard/apps/{app.id}/try/", {"action": "greet", "data": '{"name": "Ada"}'}
    )
    assert response.status_code == 302
    assert calls == [b'{"action":"greet","data":{"name":"Ada"}}']
    html = member_page.get(response["Location"]).content.decode()
    assert 'data-testid="try-result"' in html and "hi Ada" in html
    assert " ms · 1 credit · version" in html
    assert UsageEvent.objects.for_org(org).filter(type="invocation").count() == 1
    # Shown once: a reload does not repeat it.
    assert 'data-testid="try-result"' not in member_page.get(response["Location"]).content.decode()


def test_try_it_reports_bad_data_and_refusals(owner_page, app, settings):
    settings.PIXELL_RUNTIME_URL = None
    response = owner_page.post(f"/dashboard/apps/{app.id}/try/", {"action": "x", "data": "[1"})
    html = owner_page.get(response["Location"]).content.decode()
    assert "Data must be a JSON object." in html
    response = owner_page.post(f"/dashboard/apps/{app.id}/try/", {"action": "x", "data": "{}"})
    html = owner_page.get(response["Location"]).content.decode()
    assert "No version of this agent app is running" in html
