"""Client for the Pixell Agent Runtime's deploy contract (docs/CONTRACT.md §5), used by the ``notify_runtime`` step.

1. ``POST {url}/deploy`` with ``Authorization: Bearer <secret>``, ``Idempotency-Key: <deployment id>``
   and the JSON payload. Any 2xx is accepted (see below); a 4xx fails at once; 5xx answers, network
   errors and timeouts are retried with exponential backoff, up to ``max_attempts`` requests.
2. ``GET {url}/deployments/{id}/health`` every ``health_interval_s`` until the answer is a 2xx JSON
   object with ``"healthy": true``. A 4xx fails at once; 5xx answers, network errors and other
   bodies are polled past until ``health_timeout_s`` has gone by since the deploy was accepted.

No Django here: the caller passes settings in a :class:`RuntimeConfig` and turns a
:class:`RuntimeDeployError` into the step's ``error`` (``str(error)`` is written for that field and
never contains the secret).

Choices
-------
* **Any 2xx accepts the deploy.** The contract says the runtime answers 202; a 200 or 201 (say, a
  runtime that replays the first answer for a repeated ``Idempotency-Key``, or deploys synchronously)
  still means it took the deploy, and the health poll that follows is what proves the result.
* **408 and 429 are retried like 5xx answers**, although they are 4xx: by definition they mean "try
  again later", not "this request is wrong". Every other 4xx fails at once.
* **3xx fails at once**: redirects are never followed (see :mod:`deployments.netguard`); a redirect
  means ``PIXELL_RUNTIME_URL`` is wrong.
* **Retrying the POST is safe** even after a read timeout, when the runtime may have received it: the
  ``Idempotency-Key`` and the body are identical on every attempt.
* **Backoff** before attempt *n* (n ≥ 2) is ``backoff_base_s * 2 ** (n - 2)``, at most 60 s, without
  jitter: one deploy talks to one runtime, so there is no herd to spread, and tests stay exact.
* **The URL goes through the SSRF guard** on every request, with ``allow_private`` from the config
  (``PIXELL_RUNTIME_ALLOW_PRIVATE_NETWORKS``: true for a runtime on a private network or loopback). A
  refused URL is a configuration error and fails at once; a name that does not resolve is treated as
  a network error.
* **Health polls are bounded by the deadline**: each poll's timeout is at most what remains of
  ``health_timeout_s`` (but at least 1 s), so a hanging runtime cannot stretch the wait much past it.
* **Time is injected** (``sleep`` and ``clock``) so tests need not wait.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

from deployments import netguard

logger = logging.getLogger(__name__)

REQUIRED_PAYLOAD_KEYS = (
    "deploymentId",
    "agentAppId",
    "orgId",
    "version",
    "packageUrl",
    "packageSha256",
    "forceRefresh",
    "environment",
)
MAX_BACKOFF_S = 60.0
USER_AGENT = "Pixell-Agent-Cloud/1"
_RETRYABLE_4XX = frozenset({408, 429})
_DETAIL_LIMIT = 200


class RuntimeDeployError(Exception):
    """The runtime did not take or finish the deploy. ``str(error)`` is fit for a step's ``error``."""

    def __init__(self, message: str, *, status_code: int | None = None, attempts: int = 0):
        super().__init__(message)
        self.message = message
        self.status_code = status_code  # the last HTTP status seen, if any
        self.attempts = attempts  # deploy POSTs sent


class RuntimePermanentError(RuntimeDeployError):
    """Trying again will not help: refused (4xx), misconfigured, or never healthy in time."""


class RuntimeTransientError(RuntimeDeployError):
    """The runtime could not be reached or kept failing (5xx) through every attempt."""


@dataclass(frozen=True)
class RuntimeConfig:
    url: str  # PIXELL_RUNTIME_URL, e.g. "https://runtime.internal:8443"
    secret: str = field(
        repr=False
    )  # PIXELL_RUNTIME_SECRET; kept out of repr so it stays out of logs
    health_timeout_s: float = 120
    health_interval_s: float = 2
    max_attempts: int = 4
    backoff_base_s: float = 1.0
    request_timeout_s: float = 10
    allow_private: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url.strip():
            raise ValueError("runtime URL is not configured")
        if not isinstance(self.secret, str) or not self.secret:
            raise ValueError("runtime secret is not configured")
        if any(c in self.secret for c in "\r\n\0"):
            raise ValueError("runtime secret contains a line break or NUL")
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ValueError("max_attempts must be an integer of at least 1")
        if self.health_timeout_s < 0 or self.backoff_base_s < 0:
            raise ValueError("health_timeout_s and backoff_base_s must not be negative")
        if self.health_interval_s <= 0 or self.request_timeout_s <= 0:
            raise ValueError("health_interval_s and request_timeout_s must be positive")

    @property
    def base_url(self) -> str:
        return self.url.strip().rstrip("/")


@dataclass(frozen=True)
class RuntimeResult:
    status_code: int  # the accepting answer to POST /deploy, normally 202
    attempts: int  # deploy POSTs sent, 1 when accepted at once
    health_polls: int  # health GETs sent, the last one healthy
    health: dict[str, Any]  # the healthy answer's JSON body
    waited_s: float  # from acceptance to the healthy answer, by the injected clock


def backoff_delay(config: RuntimeConfig, attempt: int) -> float:
    """Seconds to wait before deploy attempt *attempt* (1-based; the first is immediate)."""
    if attempt <= 1:
        return 0.0
    return min(config.backoff_base_s * 2 ** (attempt - 2), MAX_BACKOFF_S)


def notify_deploy(
    config: RuntimeConfig,
    payload: Mapping[str, Any],
    *,
    deployment_id: str,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> RuntimeResult:
    """Hand the deploy to the runtime and wait until it reports the deployment healthy.

    Raises :class:`RuntimePermanentError` or :class:`RuntimeTransientError` (both
    :class:`RuntimeDeployError`), and ``ValueError`` for a payload missing contract keys or naming
    another deployment — a bug in the caller, not a runtime failure.
    """
    _validate_payload(payload, deployment_id)
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")
    headers = {
        "Authorization": f"Bearer {config.secret}",
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
    }
    status_code, attempts = _submit(config, body, headers, deployment_id=deployment_id, sleep=sleep)
    polls, health, waited = _await_healthy(
        config, headers, deployment_id=deployment_id, attempts=attempts, sleep=sleep, clock=clock
    )
    return RuntimeResult(
        status_code=status_code,
        attempts=attempts,
        health_polls=polls,
        health=health,
        waited_s=waited,
    )


def _validate_payload(payload: Mapping[str, Any], deployment_id: str) -> None:
    if not isinstance(deployment_id, str) or not deployment_id:
        raise ValueError("deployment_id is required")
    missing = [key for key in REQUIRED_PAYLOAD_KEYS if key not in payload]
    if missing:
        raise ValueError(f"runtime deploy payload lacks {', '.join(missing)}")
    if str(payload["deploymentId"]) != deployment_id:
        # The Idempotency-Key and the body must name the same deployment, or a retry of one
        # deployment could be taken by the runtime as another.
        raise ValueError("payload deploymentId differs from deployment_id")


def _submit(
    config: RuntimeConfig,
    body: bytes,
    headers: dict[str, str],
    *,
    deployment_id: str,
    sleep: Callable[[float], None],
) -> tuple[int, int]:
    url = f"{config.base_url}/deploy"
    send_headers = {**headers, "Content-Type": "application/json", "Idempotency-Key": deployment_id}
    last_problem = ""
    last_status: int | None = None
    for attempt in range(1, config.max_attempts + 1):
        if attempt > 1:
            delay = backoff_delay(config, attempt)
            logger.warning(
                "runtime deploy %s attempt %d failed (%s); retrying in %.1f s",
                deployment_id,
                attempt - 1,
                last_problem,
                delay,
            )
            sleep(delay)
        try:
            response = netguard.safe_request(
                "POST",
                url,
                data=body,
                headers=send_headers,
                timeout=config.request_timeout_s,
                allow_private=config.allow_private,
            )
        except netguard.UnsafeURLError as exc:
            if isinstance(exc, netguard.UnresolvableHostError):
                last_problem = "runtime host could not be resolved"
                continue
            raise RuntimePermanentError(f"runtime URL refused: {exc}", attempts=attempt) from None
        except requests.RequestException as exc:
            last_problem = _network_problem(exc, config.request_timeout_s)
            continue

        status = response.status_code
        last_status = status
        if 200 <= status < 300:
            return status, attempt
        if status >= 500 or status in _RETRYABLE_4XX:
            last_problem = f"HTTP {status}{_detail(response)}"
            continue
        if 300 <= status < 400:
            raise RuntimePermanentError(
                f"runtime answered the deploy with a redirect (HTTP {status}); redirects are not "
                "followed, check the runtime URL",
                status_code=status,
                attempts=attempt,
            )
        raise RuntimePermanentError(
            f"runtime refused the deploy: HTTP {status}{_detail(response)}",
            status_code=status,
            attempts=attempt,
        )
    raise RuntimeTransientError(
        f"runtime did not accept the deploy after {config.max_attempts} "
        f"attempt{'s' if config.max_attempts != 1 else ''} (last: {last_problem})",
        status_code=last_status,
        attempts=config.max_attempts,
    )


def _await_healthy(
    config: RuntimeConfig,
    headers: dict[str, str],
    *,
    deployment_id: str,
    attempts: int,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> tuple[int, dict[str, Any], float]:
    url = f"{config.base_url}/deployments/{quote(deployment_id, safe='')}/health"
    started = clock()
    deadline = started + config.health_timeout_s
    polls = 0
    last_problem = "no answer yet"
    last_status: int | None = None
    while True:
        polls += 1
        remaining = deadline - clock()
        timeout = min(config.request_timeout_s, max(remaining, 1.0))
        try:
            response = netguard.safe_request(
                "GET", url, headers=headers, timeout=timeout, allow_private=config.allow_private
            )
        except netguard.UnsafeURLError as exc:
            if not isinstance(exc, netguard.UnresolvableHostError):
                raise RuntimePermanentError(
                    f"runtime URL refused: {exc}", attempts=attempts
                ) from None
            last_problem = "runtime host could not be resolved"
        except requests.RequestException as exc:
            last_problem = _network_problem(exc, timeout)
        else:
            status = response.status_code
            last_status = status
            if 200 <= status < 300:
                health = _json_object(response)
                if health is not None and health.get("healthy") is True:
                    return polls, health, clock() - started
                last_problem = f"HTTP {status} {_snippet(response.text) or 'empty body'}"
            elif 300 <= status < 500 and status not in _RETRYABLE_4XX:
                raise RuntimePermanentError(
                    f"runtime health check failed: HTTP {status}{_detail(response)}",
                    status_code=status,
                    attempts=attempts,
                )
            else:
                last_problem = f"HTTP {status}{_detail(response)}"

        remaining = deadline - clock()
        if remaining <= 0:
            raise RuntimePermanentError(
                f"runtime did not report healthy within {config.health_timeout_s:g} s "
                f"(last answer: {last_problem})",
                status_code=last_status,
                attempts=attempts,
            )
        sleep(min(config.health_interval_s, remaining))


def _network_problem(exc: requests.RequestException, timeout: float) -> str:
    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, requests.ConnectionError):
        return "could not connect to the runtime"
    return f"request failed ({type(exc).__name__})"


def _json_object(response: requests.Response) -> dict[str, Any] | None:
    try:
        value = response.json()
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _detail(response: requests.Response) -> str:
    """``": <reason>"`` from the runtime's answer, short and on one line, or ``""``."""
    body = _json_object(response)
    if body is not None:
        for key in ("error", "message", "detail"):
            if isinstance(body.get(key), str) and body[key].strip():
                return f": {_snippet(body[key])}"
    text = _snippet(response.text)
    return f": {text}" if text else ""


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 1] + "…"
