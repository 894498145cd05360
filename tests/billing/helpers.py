"""Stripe test doubles that exercise the real ``stripe`` library: signed webhook payloads and a
local HTTP server standing in for api.stripe.com."""

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

WEBHOOK_SECRET = "whsec_test_secret_0123456789"


def sign(payload: bytes, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A Stripe-Signature header as Stripe computes it."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def checkout_event(
    *,
    event_id="evt_1",
    session_id="cs_test_1",
    type="checkout.session.completed",
    payment_status="paid",
    metadata=None,
) -> dict:
    return {
        "id": event_id,
        "object": "event",
        "type": type,
        "created": int(time.time()),
        "data": {
            "object": {
                "id": session_id,
                "object": "checkout.session",
                "payment_status": payment_status,
                "metadata": metadata if metadata is not None else {},
            }
        },
    }


def post_event(
    client,
    event: dict | bytes,
    *,
    secret: str = WEBHOOK_SECRET,
    timestamp: int | None = None,
    header: str | None = None,
):
    payload = event if isinstance(event, bytes) else json.dumps(event).encode()
    signature = sign(payload, secret=secret, timestamp=timestamp) if header is None else header
    extra = {"HTTP_STRIPE_SIGNATURE": signature} if signature else {}
    return client.post(
        "/api/stripe/webhook", data=payload, content_type="application/json", **extra
    )


class FakeStripe:
    """Records each request and answers like the Checkout Sessions endpoint."""

    def __init__(self, *, status: int = 200):
        self.requests: list[dict] = []
        self.status = status
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                form = {k: v[0] for k, v in parse_qs(body).items()}
                fake.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "form": form}
                )
                if fake.status != 200:
                    answer = {"error": {"type": "api_error", "message": "Stripe is down"}}
                else:
                    answer = {
                        "id": "cs_test_fake123",
                        "object": "checkout.session",
                        "url": "https://checkout.stripe.com/c/pay/cs_test_fake123",
                        "mode": form.get("mode"),
                        "metadata": {
                            k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")
                        },
                    }
                data = json.dumps(answer).encode()
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
