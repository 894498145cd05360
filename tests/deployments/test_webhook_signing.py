"""Outgoing webhook signatures, checked with the Standard Webhooks reference library (docs/CONTRACT.md §7)."""

import base64
import json
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from deployments import webhook_signing

BODY = json.dumps({"event": "deployment.completed", "data": {"deploymentId": "d-1"}}).encode()


def _headers(secret, body=BODY, msg_id="msg_1", timestamp=None):
    return webhook_signing.build_headers(
        secret,
        msg_id,
        int(time.time()) if timestamp is None else timestamp,
        body,
        "deployment.completed",
    )


def test_generated_secret_is_whsec_and_32_random_bytes():
    secret = webhook_signing.generate_secret()

    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert webhook_signing.secret_key_bytes(secret) == base64.b64decode(secret[6:])
    assert webhook_signing.generate_secret() != secret


def test_reference_library_verifies_a_generated_secret():
    secret = webhook_signing.generate_secret()

    headers = _headers(secret)

    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)


def test_reference_library_verifies_a_user_chosen_secret():
    # A secret without the whsec_ prefix is keyed by its UTF-8 bytes; the reference library takes
    # base64 text, so a receiver hands it the secret base64-encoded (or as bytes).
    secret = "my own secret, at least 16 chars ✓"

    headers = _headers(secret)

    assert Webhook(base64.b64encode(secret.encode()).decode()).verify(BODY, headers)
    assert Webhook(secret.encode()).verify(BODY, headers)


def test_signature_is_hmac_over_id_timestamp_and_raw_body():
    key = b"k" * 32
    secret = "whsec_" + base64.b64encode(key).decode()

    signature = webhook_signing.sign(secret, "msg_x", 1700000000, b'{"a":1}')

    import hashlib
    import hmac

    expected = hmac.new(key, b'msg_x.1700000000.{"a":1}', hashlib.sha256).digest()
    assert signature == "v1," + base64.b64encode(expected).decode()


def test_headers_carry_the_contract_names():
    headers = _headers(
        "whsec_" + base64.b64encode(b"x" * 32).decode(), msg_id="msg_abc", timestamp=1700000000
    )

    assert headers["webhook-id"] == "msg_abc"
    assert headers["webhook-timestamp"] == "1700000000"
    assert headers["webhook-signature"].startswith("v1,")
    assert headers["X-Pixell-Event"] == "deployment.completed"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "Pixell-Webhooks/1"


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda body, headers: (body.replace(b"d-1", b"d-2"), headers), id="body"),
        pytest.param(lambda body, headers: (body, {**headers, "webhook-id": "msg_2"}), id="id"),
        pytest.param(
            lambda body, headers: (
                body,
                {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) + 1)},
            ),
            id="timestamp",
        ),
    ],
)
def test_tampering_fails_verification(tamper):
    secret = webhook_signing.generate_secret()
    body, headers = tamper(BODY, _headers(secret))

    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers)


def test_another_secret_fails_verification():
    headers = _headers(webhook_signing.generate_secret())

    with pytest.raises(WebhookVerificationError):
        Webhook(webhook_signing.generate_secret()).verify(BODY, headers)


def test_unpadded_whsec_secret_gets_the_reference_library_key():
    secret = "whsec_" + base64.b64encode(b"0123456789abcdefghij").decode().rstrip("=")

    assert Webhook(secret).verify(BODY, _headers(secret))


@pytest.mark.parametrize("secret", ["", "whsec_", "whsec_not base64!", "whsec_a-b_c"])
def test_unusable_secrets_are_rejected(secret):
    with pytest.raises(ValueError):
        webhook_signing.secret_key_bytes(secret)


def test_sign_wants_raw_bytes_and_int_seconds():
    with pytest.raises(TypeError):
        webhook_signing.sign("a" * 16, "msg_1", 1700000000, '{"a":1}')
    with pytest.raises(TypeError):
        webhook_signing.sign("a" * 16, "msg_1", 1700000000.5, b"{}")


def test_retry_schedule_is_at_least_five_attempts_over_an_hour():
    delays = webhook_signing.retry_delays()

    assert delays[0] == 0
    assert len(delays) >= 5 and len(delays) == webhook_signing.MAX_ATTEMPTS
    assert sum(delays) >= 3600
    assert list(delays) == sorted(delays)
    assert webhook_signing.retry_delay(1) == 0
    assert webhook_signing.retry_delay(2) == 30
    assert webhook_signing.retry_delay(len(delays) + 1) is None


def test_message_ids_are_unique_and_prefixed():
    ids = {webhook_signing.generate_message_id() for _ in range(100)}

    assert len(ids) == 100
    assert all(i.startswith("msg_") for i in ids)
