"""The local runtime's HTTP face: the hosted runtime's deploy contract, unchanged, plus what the
platform needs to invoke and show agents. No Django. Every route needs ``Authorization: Bearer
<secret>``; it listens on loopback only (it runs uploaded code).

Contract (docs/runtime.md):
  POST /deploy                     Idempotency-Key = deploymentId → 202 {"deploymentId","status"}
  GET  /deployments/<id>/health    200 {"healthy": bool, "status": "starting"|"healthy"}
                                   422 {"healthy": false, "status": "unhealthy", "error", "log_tail"}
Platform side:
  GET    /apps/<id>                {"status","version","deployment_id","started_at","log_tail"}
  POST   /apps/<id>/invoke         the agent's {"status","data","error"}; 409/502/504 otherwise;
                                   X-Pixell-Timeout: seconds; answers X-Pixell-Version/-Deployment
  DELETE /apps/<id>                stops the app's agent (204)
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from runtime.server.supervisor import Supervisor, valid_id

logger = logging.getLogger("pixell.runtime")
MAX_BODY = 1024 * 1024
_HEALTH = re.compile(r"^/deployments/([^/]+)/health$")
_APP = re.compile(r"^/apps/([^/]+)(/invoke)?$")
_PAYLOAD_STRINGS = ("deploymentId", "agentAppId", "version", "packageUrl")


class RuntimeServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the default 5 refuses connections under a burst of invocations

    def __init__(self, address, *, supervisor: Supervisor, secret: str):
        if not secret or len(secret) < 16:
            raise ValueError("the runtime secret must be at least 16 characters")
        self.supervisor = supervisor
        self.secret = secret.encode()
        super().__init__(address, Handler)


class Handler(BaseHTTPRequestHandler):
    server: RuntimeServer
    protocol_version = "HTTP/1.1"  # keep-alive: the platform reuses its connection per invocation
    # Headers and body leave in two writes; with Nagle on, the body waits for the client's delayed
    # ACK of the headers (~40 ms on Linux) on every answer of a kept-alive connection.
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        logger.debug("%s " + fmt, self.address_string(), *args)

    def _send(self, status: int, body, headers: dict | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        token = header[7:].encode() if header.startswith("Bearer ") else b""
        if hmac.compare_digest(token, self.server.secret):
            return True
        self._send(401, {"error": "Unauthorized"})
        return False

    def _body(self) -> bytes | None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self._send(413, {"error": "body too large"})
            return None
        return self.rfile.read(length)

    def do_POST(self):
        body = self._body()
        if body is None or not self._authorized():
            return
        if self.path == "/deploy":
            return self._deploy(body)
        match = _APP.match(self.path)
        if match and match.group(2) and valid_id(match.group(1)):
            return self._invoke(match.group(1), body)
        self._send(404, {"error": "Not found"})

    def do_GET(self):
        if not self._authorized():
            return
        match = _HEALTH.match(self.path)
        if match:
            health = self.server.supervisor.health(match.group(1))
            if health is None:
                return self._send(404, {"error": "Unknown deployment"})
            return self._send(422 if health["status"] == "unhealthy" else 200, health)
        match = _APP.match(self.path)
        if match and not match.group(2) and valid_id(match.group(1)):
            return self._send(200, self.server.supervisor.app_status(match.group(1)))
        self._send(404, {"error": "Not found"})

    def do_DELETE(self):
        if not self._authorized():
            return
        match = _APP.match(self.path)
        if match and not match.group(2) and valid_id(match.group(1)):
            self.server.supervisor.stop_app(match.group(1))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._send(404, {"error": "Not found"})

    def _deploy(self, body: bytes) -> None:
        try:
            payload = json.loads(body)
        except ValueError:
            return self._send(400, {"error": "body is not JSON"})
        if not isinstance(payload, dict) or not all(
            isinstance(payload.get(key), str) and payload[key] for key in _PAYLOAD_STRINGS
        ):
            return self._send(400, {"error": f"payload needs {', '.join(_PAYLOAD_STRINGS)}"})
        if not (valid_id(payload["deploymentId"]) and valid_id(payload["agentAppId"])):
            return self._send(400, {"error": "deploymentId and agentAppId must be ids"})
        if not isinstance(payload.get("environment", {}), dict):
            return self._send(400, {"error": "environment must be an object"})
        if self.headers.get("Idempotency-Key") != payload["deploymentId"]:
            return self._send(400, {"error": "Idempotency-Key must be the deploymentId"})
        self._send(202, self.server.supervisor.deploy(payload))

    def _invoke(self, app_id: str, body: bytes) -> None:
        try:
            timeout = float(self.headers.get("X-Pixell-Timeout") or 30)
        except ValueError:
            timeout = 30.0
        status, answer, agent = self.server.supervisor.invoke(
            app_id, body, timeout=max(0.1, min(timeout, 600))
        )
        headers = (
            {"X-Pixell-Version": agent.version, "X-Pixell-Deployment": agent.deployment_id}
            if agent
            else {}
        )
        self._send(status, answer, headers)
