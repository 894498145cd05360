"""The local runtime with real agents built by the real pixell-sdk CLI (tests/runtime/conftest.py):
deploy with `pixell deploy --env local --wait`, then invoke through the platform.

One journey per test function keeps agent starts few: each deploy starts a real process.
"""

from __future__ import annotations

import re
import threading
import time

import pytest
import requests

from agentapps.models import AgentApp
from billing.models import CreditTransaction
from deployments.models import Deployment
from organizations.models import Organization
from tests.agentapps.kit import sdk_deploy
from tests.factories import AppSecretFactory, api_key_for
from usage.models import UsageEvent

pytestmark = [pytest.mark.slow, pytest.mark.kit]


@pytest.fixture
def journey(runtime_on, kit_server):
    from organizations.services import organization_create
    from tests.factories import UserFactory

    org = organization_create(name="Runtime Org", owner=UserFactory(email="rt@example.com"))
    app = AgentApp.objects.for_org(org).create(organization=org, name="Runtime App")
    AppSecretFactory(organization=org, agent_app=app, key="APP_SECRET", value="from-secrets")
    _, key = api_key_for(org)
    return Journey(org=org, app=app, key=key, url=kit_server.url, runtime=runtime_on)


class Journey:
    def __init__(self, *, org, app, key, url, runtime):
        self.org, self.app, self.key, self.url, self.runtime = org, app, key, url, runtime

    def deploy(self, package, **extra):
        done = sdk_deploy(
            package, app_id=str(self.app.id), api_key=self.key, base_url=self.url, **extra
        )
        match = re.search(r"Deployment ID:\s*([0-9a-f-]{36})", done.stdout)
        assert match, done.stdout + done.stderr
        return done, Deployment.all_orgs.get(id=match.group(1))

    def invoke(self, action="hello", data=None):
        response = requests.post(
            f"{self.url}/api/agent-apps/{self.app.id}/invoke",
            json={"action": action, "data": data or {}},
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=60,
        )
        if response.status_code == 200:
            # An answer is metered just after it is sent, by the server's thread
            # (docs/DECISIONS.md): wait for its usage event before the test reads the balance.
            reference = f"invocation:{response.json()['invocation']['id']}"
            deadline = time.monotonic() + 10
            while not UsageEvent.all_orgs.filter(reference=reference).exists():
                assert time.monotonic() < deadline, f"{reference} was never metered"
                time.sleep(0.02)
        return response

    def runtime_state(self):
        response = requests.get(
            f"{self.url}/api/agent-apps/{self.app.id}/runtime",
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=10,
        )
        assert response.status_code == 200
        return response.json()["runtime"]

    def credits(self):
        return Organization.objects.get(pk=self.org.pk).credits


def _step(deployment, name):
    return deployment.steps.get(name=name)


def test_deploy_invoke_replace_and_a_broken_version(journey, agents, settings):
    # 1. The first version deploys: notify_runtime completes and the agent answers.
    done, first = journey.deploy(agents["0.1.0"], runtime_env={"FROM_DEPLOY": "yes"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert first.status == "completed"
    assert _step(first, "notify_runtime").status == "completed"
    state = journey.runtime_state()
    assert state["status"] == "running" and state["version"] == "0.1.0"
    assert state["deployment_id"] == str(first.id) and state["started_at"]

    before = journey.credits()
    response = journey.invoke("hello", {"n": 1})
    assert response.status_code == 200, response.text
    invocation = response.json()["invocation"]
    assert invocation["status"] == "success" and invocation["version"] == "0.1.0"
    assert invocation["data"] == {
        "version": "0.1.0",
        "echo": {"action": "hello", "data": {"n": 1}},
    }
    assert invocation["credits"] == 1 and journey.credits() == before - 1
    assert UsageEvent.objects.for_org(journey.org).filter(type="invocation").count() == 1

    # 2. The agent sees its packaged .env, its app secrets and the deploy's environment, and
    #    nothing of the platform's own environment.
    env = journey.invoke("env").json()["invocation"]["data"]
    assert env["APP_SECRET"] == "from-secrets"
    assert env["FROM_DEPLOY"] == "yes" and env["PACKAGED"] == "from-dotenv"
    leaked = {k for k in env if k.startswith(("PIXELL_", "DJANGO", "DATABASE", "SECRET", "AWS_"))}
    assert leaked == set()
    assert set(env) <= {
        "APP_SECRET", "FROM_DEPLOY", "PACKAGED", "LOG_LEVEL", "PATH", "HOME", "LANG",
        "VIRTUAL_ENV", "PYTHONUNBUFFERED", "LC_CTYPE",
    }  # fmt: skip

    # The template's `rest` entry is mounted and its `ui` folder served by the agent host.
    port = journey.runtime.supervisor.agents[str(journey.app.id)].port
    assert requests.get(f"http://127.0.0.1:{port}/api/hello", timeout=5).json() == {
        "message": "Hello from REST"
    }
    assert requests.get(f"http://127.0.0.1:{port}/ui/", timeout=5).status_code == 200

    # 3. The agent's own error is a charged 200.
    before = journey.credits()
    failed = journey.invoke("fail").json()["invocation"]
    assert failed["status"] == "error" and "the agent refuses" in failed["error"]
    assert journey.credits() == before - 1

    # 4. A hanging invocation is a 504, not charged.
    settings.PIXELL_INVOCATION_TIMEOUT_SECONDS = 1
    before = journey.credits()
    slow = journey.invoke("sleep", {"seconds": 3})
    assert slow.status_code == 504 and slow.json()["code"] == "INVOCATION_TIMEOUT"
    assert journey.credits() == before
    settings.PIXELL_INVOCATION_TIMEOUT_SECONDS = 30

    # 5. A second version replaces the first, while invocations keep coming: none fails.
    old_pid = journey.runtime.supervisor.agents[str(journey.app.id)].pid
    failures, answers, stop = [], [], threading.Event()

    def hammer():
        # Straight at the runtime, which does the swap: the live test server shares one SQLite
        # connection between its threads, so concurrent requests through it would test that.
        with requests.Session() as session:
            while not stop.is_set():
                r = session.post(
                    f"{journey.runtime.url}/apps/{journey.app.id}/invoke",
                    json={"action": "hello", "data": {}},
                    headers={"Authorization": f"Bearer {journey.runtime.secret_text}"},
                    timeout=30,
                )
                if r.status_code != 200 or r.json()["status"] != "success":
                    failures.append(r.text)
                else:
                    answers.append(r.json()["data"]["version"])

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        done, second = journey.deploy(agents["0.2.0"])
        time.sleep(0.5)  # invocations on the new version too
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert second.status == "completed", done.stdout
    assert failures == []
    assert "0.1.0" in answers and "0.2.0" in answers
    assert journey.invoke().json()["invocation"]["version"] == "0.2.0"
    _wait_gone(old_pid)  # the replaced version's process stops

    # 6. A third version whose entrypoint cannot import fails promptly with the reason, is
    #    refunded, and the second keeps answering.
    before = journey.credits()
    started = time.monotonic()
    done, third = journey.deploy(agents["0.3.0-broken"])
    assert time.monotonic() - started < 60
    assert third.status == "failed"
    step = _step(third, "notify_runtime")
    assert step.status == "failed" and "module_that_is_not_there" in step.error
    assert journey.credits() == before  # reserved, then refunded
    assert CreditTransaction.objects.for_org(journey.org).filter(type="refund").exists()
    assert journey.invoke().json()["invocation"]["version"] == "0.2.0"
    assert journey.runtime_state()["version"] == "0.2.0"

    # 7. A version past its memory limit cannot start; the second still answers.
    done, fourth = journey.deploy(agents["0.4.0-hog"])
    assert fourth.status == "failed"
    assert "MemoryError" in _step(fourth, "notify_runtime").error
    assert journey.invoke().json()["invocation"]["version"] == "0.2.0"

    # 8. A restarted runtime brings the running version back.
    supervisor = journey.runtime.supervisor
    pid = supervisor.agents[str(journey.app.id)].pid
    supervisor.shutdown()
    supervisor.agents.clear()
    supervisor.restore()
    assert supervisor.agents[str(journey.app.id)].pid != pid
    assert journey.invoke().json()["invocation"]["version"] == "0.2.0"

    # 9. Deleting the app stops its agent.
    pid = supervisor.agents[str(journey.app.id)].pid
    owner = journey.org.memberships.get().user
    from agentapps.services import agent_app_delete

    agent_app_delete(agent_app=AgentApp.objects.for_org(journey.org).get(), actor=owner)
    assert str(journey.app.id) not in supervisor.agents
    _wait_gone(pid)


def _wait_gone(pid, timeout=15.0):
    import os

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        # A zombie until its parent (the runtime thread) reaps it counts as gone.
        try:
            with open(f"/proc/{pid}/stat") as fp:
                if fp.read().split()[2] == "Z":
                    return
        except OSError:
            return
        time.sleep(0.1)
    raise AssertionError(f"process {pid} still runs")
