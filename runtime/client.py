"""The platform's client of the local runtime's app routes (docs/runtime.md): status, invoke, stop.

The deploy itself goes through ``deployments.runtime`` (the hosted runtime's contract); these routes
exist on the local runtime only, so a runtime that lacks them (404) reads as "nothing runs".
The runtime's URL is the operator's configuration, not user input, so it is called directly; one
keep-alive session per thread keeps an invocation to one round trip on an open connection.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import requests
from django.conf import settings

_local = threading.local()
STOPPED = {
    "status": "stopped",
    "version": None,
    "deployment_id": None,
    "started_at": None,
    "log_tail": [],
}


class RuntimeUnavailable(Exception):
    """The runtime is not configured, or could not be reached."""


class NotRunning(Exception):
    """No version runs: none deployed, or no runtime configured at all."""


class InvocationTimedOut(Exception):
    pass


@dataclass(frozen=True)
class AgentAnswer:
    body: dict  # the agent's {"status", "data", "error"}
    version: str
    deployment_id: str


def _session() -> requests.Session:
    session = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        session.trust_env = False  # no proxy between us and a loopback runtime
        _local.session = session
    return session


def _request(method: str, path: str, **kwargs) -> requests.Response:
    if not settings.PIXELL_RUNTIME_URL or not settings.PIXELL_RUNTIME_SECRET:
        raise RuntimeUnavailable("no runtime is configured")
    url = settings.PIXELL_RUNTIME_URL.rstrip("/") + path
    headers = {
        "Authorization": f"Bearer {settings.PIXELL_RUNTIME_SECRET}",
        **kwargs.pop("headers", {}),
    }
    try:
        return _session().request(method, url, headers=headers, **kwargs)
    except requests.Timeout:
        raise
    except requests.RequestException as exc:
        raise RuntimeUnavailable(
            f"the runtime could not be reached ({type(exc).__name__})"
        ) from None


def app_status(app_id) -> dict:
    """The runtime's view of an app; ``stopped`` when no runtime runs it or none answers."""
    try:
        response = _request("GET", f"/apps/{app_id}", timeout=5)
    except (RuntimeUnavailable, requests.Timeout):
        return dict(STOPPED)
    if response.status_code != 200:
        return dict(STOPPED)
    body = response.json()
    return {key: body.get(key, STOPPED[key]) for key in STOPPED}


def invoke(app_id, body: bytes, *, timeout: float) -> AgentAnswer:
    if not settings.PIXELL_RUNTIME_URL:
        raise NotRunning()
    try:
        response = _request(
            "POST",
            f"/apps/{app_id}/invoke",
            data=body,
            headers={"Content-Type": "application/json", "X-Pixell-Timeout": str(timeout)},
            timeout=timeout + 5,  # the runtime answers 504 itself first
        )
    except requests.Timeout:
        raise InvocationTimedOut() from None
    if response.status_code == 200:
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            answer = {"status": "error", "data": None, "error": "the agent's answer is not JSON"}
        return AgentAnswer(
            body=answer,
            version=response.headers.get("X-Pixell-Version", ""),
            deployment_id=response.headers.get("X-Pixell-Deployment", ""),
        )
    if response.status_code in (404, 409):
        raise NotRunning()
    if response.status_code == 504:
        raise InvocationTimedOut()
    raise RuntimeUnavailable(f"the runtime answered HTTP {response.status_code}")


def app_stop(app_id) -> None:
    try:
        _request("DELETE", f"/apps/{app_id}", timeout=30)
    except (RuntimeUnavailable, requests.Timeout):
        pass  # best effort: the app is gone either way (docs/DECISIONS.md, "Local agent runtime")
