"""The runtime deploy client against a real local HTTP server playing the Pixell Agent Runtime."""

import http.server
import json
import socket
import threading
import time

import pytest

from deployments.runtime import (
    RuntimeConfig,
    RuntimePermanentError,
    RuntimeTransientError,
    notify_deploy,
)

SECRET = "runtime-secret-0123456789"
DEPLOYMENT_ID = "5f0c6c52-8a7e-4a53-9d51-3c0b0f0e7a11"


class FakeRuntime:
    """Scripted runtime. ``deploy`` and ``health`` are lists of answers ``(status, json_body)``,
    consumed one per request, the last repeating. ``hang_s`` delays every answer."""

    def __init__(self):
        self.deploy = [(202, {"accepted": True})]
        self.health = [(200, {"healthy": True})]
        self.hang_s = 0.0
        self.requests = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        runtime = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                runtime._answer(
                    self,
                    runtime.deploy if self.path == "/deploy" else [(404, {"error": "no route"})],
                )

            def do_GET(self):
                expected = f"/deployments/{DEPLOYMENT_ID}/health"
                runtime._answer(
                    self,
                    runtime.health if self.path == expected else [(404, {"error": "no route"})],
                )

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _answer(self, handler, script):
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        with self._lock:
            self.requests.append(
                {
                    "method": handler.command,
                    "path": handler.path,
                    "headers": dict(handler.headers),
                    "body": body,
                }
            )
            status, payload = script.pop(0) if len(script) > 1 else script[0]
        if self.hang_s and self.stopping.wait(self.hang_s):
            return
        data = json.dumps(payload).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            if 300 <= status < 400:
                handler.send_header("Location", "/elsewhere")
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            pass  # the client gave up (timeout test)

    def posts(self):
        return [r for r in self.requests if r["method"] == "POST"]

    def gets(self):
        return [r for r in self.requests if r["method"] == "GET"]


@pytest.fixture
def runtime():
    fake = FakeRuntime()
    thread = threading.Thread(
        target=fake.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield fake
    fake.stopping.set()
    fake.server.shutdown()
    fake.server.server_close()


class FakeClock:
    """Injected sleep/clock: sleeping advances the clock at once and is recorded."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def _config(runtime, **overrides):
    settings = {
        "url": runtime.url,
        "secret": SECRET,
        "health_timeout_s": 10,
        "health_interval_s": 1,
        "max_attempts": 4,
        "backoff_base_s": 1.0,
        "request_timeout_s": 2,
        "allow_private": True,
    }
    return RuntimeConfig(**{**settings, **overrides})


def _payload(**overrides):
    return {
        "deploymentId": DEPLOYMENT_ID,
        "agentAppId": "app-1",
        "orgId": "org-1",
        "version": "1.2.3",
        "packageUrl": "https://s3.example.com/packages/app-1-1.2.3.apkg?sig=abc",
        "packageSha256": "a" * 64,
        "forceRefresh": False,
        "environment": {"API_KEY": "value"},
        **overrides,
    }


def _notify(runtime, clock, **config_overrides):
    return notify_deploy(
        _config(runtime, **config_overrides),
        _payload(),
        deployment_id=DEPLOYMENT_ID,
        sleep=clock.sleep,
        clock=clock.clock,
    )


def test_accepted_then_healthy_after_two_unhealthy_polls(runtime):
    runtime.health = [
        (200, {"healthy": False}),
        (200, {"healthy": False, "status": "starting"}),
        (200, {"healthy": True}),
    ]
    clock = FakeClock()

    result = _notify(runtime, clock)

    assert (result.status_code, result.attempts, result.health_polls) == (202, 1, 3)
    assert result.health == {"healthy": True}
    assert clock.sleeps == [1, 1]
    [post] = runtime.posts()
    assert post["path"] == "/deploy"
    assert post["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert post["headers"]["Idempotency-Key"] == DEPLOYMENT_ID
    assert post["headers"]["Content-Type"] == "application/json"
    assert json.loads(post["body"]) == _payload()
    assert [g["path"] for g in runtime.gets()] == [f"/deployments/{DEPLOYMENT_ID}/health"] * 3
    assert all(g["headers"]["Authorization"] == f"Bearer {SECRET}" for g in runtime.gets())


def test_a_4xx_refusal_fails_at_once(runtime):
    runtime.deploy = [(400, {"error": "packageSha256 does not match"})]
    clock = FakeClock()

    with pytest.raises(RuntimePermanentError) as excinfo:
        _notify(runtime, clock)

    assert (
        str(excinfo.value) == "runtime refused the deploy: HTTP 400: packageSha256 does not match"
    )
    assert excinfo.value.status_code == 400
    assert len(runtime.requests) == 1
    assert clock.sleeps == []


def test_5xx_is_retried_with_backoff_then_succeeds(runtime):
    runtime.deploy = [(503, {"error": "busy"}), (503, {"error": "busy"}), (202, {})]
    clock = FakeClock()

    result = _notify(runtime, clock)

    assert result.attempts == 3
    assert clock.sleeps == [1.0, 2.0]
    posts = runtime.posts()
    assert len(posts) == 3
    # Retries are the same request: the runtime de-duplicates on the key.
    assert {p["headers"]["Idempotency-Key"] for p in posts} == {DEPLOYMENT_ID}
    assert len({p["body"] for p in posts}) == 1


def test_always_5xx_fails_after_max_attempts(runtime):
    runtime.deploy = [(503, {"error": "runtime overloaded"})]
    clock = FakeClock()

    with pytest.raises(RuntimeTransientError) as excinfo:
        _notify(runtime, clock)

    assert len(runtime.posts()) == 4
    assert runtime.gets() == []
    assert clock.sleeps == [1.0, 2.0, 4.0]
    assert (
        str(excinfo.value)
        == "runtime did not accept the deploy after 4 attempts (last: HTTP 503: runtime overloaded)"
    )
    assert excinfo.value.attempts == 4


def test_never_healthy_fails_after_the_health_timeout(runtime):
    runtime.health = [(200, {"healthy": False})]
    clock = FakeClock()

    with pytest.raises(RuntimePermanentError) as excinfo:
        _notify(runtime, clock, health_timeout_s=5, health_interval_s=1)

    assert str(excinfo.value).startswith("runtime did not report healthy within 5 s")
    assert '"healthy": false' in str(excinfo.value)
    assert sum(clock.sleeps) == 5
    assert len(runtime.gets()) == 6  # at 0, 1, 2, 3, 4 and 5 s


def test_health_timeout_with_real_time(runtime):
    runtime.health = [(503, {"error": "warming up"})]
    started = time.monotonic()

    with pytest.raises(
        RuntimePermanentError, match=r"^runtime did not report healthy within 0.3 s"
    ):
        notify_deploy(
            _config(runtime, health_timeout_s=0.3, health_interval_s=0.05),
            _payload(),
            deployment_id=DEPLOYMENT_ID,
        )

    assert 0.3 <= time.monotonic() - started < 2
    assert len(runtime.gets()) >= 3


def test_a_hanging_runtime_counts_as_transient(runtime):
    runtime.hang_s = 3
    clock = FakeClock()
    started = time.monotonic()

    with pytest.raises(RuntimeTransientError) as excinfo:
        _notify(runtime, clock, request_timeout_s=0.2, max_attempts=2)

    assert time.monotonic() - started < 2
    assert len(runtime.posts()) == 2
    assert "no answer within 0.2 s" in str(excinfo.value)


def test_health_5xx_and_odd_bodies_keep_polling(runtime):
    runtime.health = [(500, {}), (502, {}), (200, "not an object"), (200, {"healthy": True})]
    clock = FakeClock()

    result = _notify(runtime, clock)

    assert result.health_polls == 4


def test_health_4xx_fails_at_once(runtime):
    runtime.health = [(404, {"error": "unknown deployment"})]
    clock = FakeClock()

    with pytest.raises(
        RuntimePermanentError, match="runtime health check failed: HTTP 404: unknown deployment"
    ):
        _notify(runtime, clock)

    assert len(runtime.gets()) == 1


def test_429_is_retried_like_5xx(runtime):
    runtime.deploy = [(429, {"error": "slow down"}), (202, {})]

    result = _notify(runtime, FakeClock())

    assert result.attempts == 2


def test_other_2xx_is_accepted(runtime):
    runtime.deploy = [(200, {"replayed": True})]

    result = _notify(runtime, FakeClock())

    assert result.status_code == 200


def test_a_redirect_fails_at_once_and_is_not_followed(runtime):
    runtime.deploy = [(307, {})]

    with pytest.raises(RuntimePermanentError, match="redirect"):
        _notify(runtime, FakeClock())

    assert [r["path"] for r in runtime.requests] == ["/deploy"]


def test_unreachable_runtime_is_transient():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: connections are refused
    clock = FakeClock()
    config = RuntimeConfig(
        url=f"http://127.0.0.1:{port}", secret=SECRET, allow_private=True, max_attempts=3
    )

    with pytest.raises(
        RuntimeTransientError, match=r"after 3 attempts \(last: could not connect to the runtime\)"
    ):
        notify_deploy(
            config, _payload(), deployment_id=DEPLOYMENT_ID, sleep=clock.sleep, clock=clock.clock
        )

    assert clock.sleeps == [1.0, 2.0]


def test_private_runtime_url_is_refused_without_allow_private(runtime):
    with pytest.raises(RuntimePermanentError, match=r"^runtime URL refused"):
        _notify(runtime, FakeClock(), allow_private=False)

    assert runtime.requests == []


def test_trailing_slash_in_the_url_is_tolerated(runtime):
    config = _config(runtime, url=runtime.url + "/")

    notify_deploy(config, _payload(), deployment_id=DEPLOYMENT_ID, sleep=FakeClock().sleep)

    assert runtime.requests[0]["path"] == "/deploy"


def test_payload_must_carry_every_contract_key(runtime):
    payload = _payload()
    del payload["packageSha256"]

    with pytest.raises(ValueError, match="packageSha256"):
        notify_deploy(_config(runtime), payload, deployment_id=DEPLOYMENT_ID)

    with pytest.raises(ValueError, match="deploymentId"):
        notify_deploy(_config(runtime), _payload(deploymentId="other"), deployment_id=DEPLOYMENT_ID)

    assert runtime.requests == []


def test_the_secret_stays_out_of_errors_and_repr(runtime):
    runtime.deploy = [(401, {"error": "bad token"})]

    with pytest.raises(RuntimePermanentError) as excinfo:
        _notify(runtime, FakeClock())

    assert SECRET not in str(excinfo.value)
    assert SECRET not in repr(_config(runtime))


@pytest.mark.parametrize(
    "overrides",
    [
        {"url": ""},
        {"secret": ""},
        {"secret": "a\nb"},
        {"max_attempts": 0},
        {"health_interval_s": 0},
        {"request_timeout_s": -1},
    ],
)
def test_config_rejects_unusable_settings(overrides):
    with pytest.raises(ValueError):
        RuntimeConfig(**{"url": "https://runtime.example.com", "secret": SECRET, **overrides})
