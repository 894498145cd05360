"""The platform's client of the local runtime's app routes (docs/runtime.md): status, invoke, stop.

The deploy itself goes through ``deployments.runtime`` (the hosted runtime's contract); these routes
exist on the local runtime only, so a runtime that lacks them (404) reads as "nothing runs".
The runtime's URL is the operator's configuration, not user input, so it is called directly,
through urllib3's thread-safe pool of keep-alive connections (no proxy from the environment, no
retry: a POST is never sent twice): an invocation is one round trip on an open connection, and
urllib3 without requests' session layer costs ~1-2 ms less per call on the benchmark machine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import urllib3
from django.conf import settings
from urllib3.exceptions import HTTPError as TransportError
from urllib3.exceptions import ReadTimeoutError as TransportTimeout

_pool = urllib3.PoolManager(num_pools=4, maxsize=32, retries=False)
CONNECT_TIMEOUT = 2  # loopback or a private network: a runtime that takes longer is down
READ_TIMEOUT_PAD = 5  # past the invocation timeout, which the runtime enforces itself (504) first
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


@dataclass(frozen=True)
class _Response:
    status_code: int
    body: bytes
    headers: urllib3.HTTPHeaderDict  # case-insensitive

    def json(self):
        return json.loads(self.body)


def _request(method: str, path: str, *, timeout: float, body: bytes | None = None, headers=None):
    """One request to the runtime. No answer in time propagates as TransportTimeout; any other
    failure is RuntimeUnavailable: a refused or timed-out connection (urllib3 makes
    NewConnectionError a ConnectTimeoutError; the request never reached the runtime), or a
    connection broken after sending (the runtime may have run it; nothing is charged)."""
    if not settings.PIXELL_RUNTIME_URL or not settings.PIXELL_RUNTIME_SECRET:
        raise RuntimeUnavailable("no runtime is configured")
    url = settings.PIXELL_RUNTIME_URL.rstrip("/") + path
    headers = {"Authorization": f"Bearer {settings.PIXELL_RUNTIME_SECRET}", **(headers or {})}
    try:
        response = _pool.request(
            method,
            url,
            body=body,
            headers=headers,
            timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=timeout),
        )
    except TransportTimeout:
        raise
    except TransportError as exc:
        raise RuntimeUnavailable(
            f"the runtime could not be reached ({type(exc).__name__})"
        ) from None
    return _Response(response.status, response.data, response.headers)


def app_status(app_id) -> dict:
    """The runtime's view of an app; ``stopped`` when no runtime runs it or none answers."""
    try:
        response = _request("GET", f"/apps/{app_id}", timeout=5)
        body = response.json() if response.status_code == 200 else None
    except (RuntimeUnavailable, TransportTimeout, ValueError):
        return dict(STOPPED)
    if not isinstance(body, dict):
        return dict(STOPPED)
    return {key: body.get(key, STOPPED[key]) for key in STOPPED}


def invoke(app_id, body: bytes, *, timeout: float) -> AgentAnswer:
    if not settings.PIXELL_RUNTIME_URL:
        raise NotRunning()
    try:
        response = _request(
            "POST",
            f"/apps/{app_id}/invoke",
            body=body,
            headers={"Content-Type": "application/json", "X-Pixell-Timeout": str(timeout)},
            timeout=timeout + READ_TIMEOUT_PAD,
        )
    except TransportTimeout:
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
    except (RuntimeUnavailable, TransportTimeout):
        pass  # best effort: the app is gone either way (docs/DECISIONS.md, "Local agent runtime")
