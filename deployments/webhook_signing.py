"""Standard Webhooks signing for outgoing webhooks (docs/CONTRACT.md §7).

Any Standard Webhooks library verifies what this module signs: the signature is
``v1,<base64 HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<raw body>")>``.

The key: a secret ``whsec_<base64>`` (what :func:`generate_secret` makes) is base64-decoded after the
prefix, exactly as the reference libraries do. A user-chosen secret without the prefix is used as its
UTF-8 bytes. Receivers using a reference library pass such a secret base64-encoded
(``Webhook(base64.b64encode(secret.encode()).decode())``) or as bytes (``Webhook(secret.encode())``).

No Django here; storing the secret and scheduling retries belong to the caller.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
USER_AGENT = "Pixell-Webhooks/1"

# Standard base64 alphabet, padding optional. The reference Python library decodes leniently
# (unknown characters are dropped), so a secret with other characters would give that library a
# different key than ours; refusing it up front avoids signatures nobody can verify.
_BASE64_RE = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")

# Delay in seconds before each delivery attempt: attempt 1 is immediate, the 7th and last goes out
# 4 h 42 min 30 s after the first. A non-2xx answer or a timeout moves to the next attempt.
_RETRY_DELAYS = (0, 30, 2 * 60, 10 * 60, 30 * 60, 60 * 60, 3 * 60 * 60)


def generate_secret() -> str:
    """A new secret: ``whsec_`` + base64 of 32 random bytes (shown to the user once)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def generate_message_id() -> str:
    """A new ``webhook-id``: kept for a message across retries and redeliveries."""
    return "msg_" + secrets.token_urlsafe(18)


def secret_key_bytes(secret: str) -> bytes:
    """The HMAC key of *secret*.

    ``whsec_…`` → the base64-decoded rest (missing padding tolerated, as the reference libraries do);
    anything else → its UTF-8 bytes. Raises ``ValueError`` for an empty key or a ``whsec_`` secret
    that is not base64, so that creation can reject such secrets instead of signing unverifiably.
    """
    if not isinstance(secret, str):
        raise TypeError("webhook secret must be a str")
    if secret.startswith(SECRET_PREFIX):
        encoded = secret[len(SECRET_PREFIX) :]
        if not _BASE64_RE.match(encoded):
            raise ValueError(
                "a webhook secret starting with whsec_ must be base64 after the prefix"
            )
        unpadded = encoded.rstrip("=")
        try:
            key = base64.b64decode(unpadded + "=" * (-len(unpadded) % 4), validate=True)
        except binascii.Error:
            raise ValueError(
                "a webhook secret starting with whsec_ must be base64 after the prefix"
            ) from None
    else:
        key = secret.encode("utf-8")
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 over f"{msg_id}.{timestamp}.".encode() + body>``."""
    if not isinstance(body, bytes):
        raise TypeError("sign the raw body bytes that will be sent")
    if not isinstance(timestamp, int) or isinstance(timestamp, bool):
        raise TypeError("timestamp must be unix seconds as an int")
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key_bytes(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def build_headers(
    secret: str, msg_id: str, timestamp: int, body: bytes, event: str
) -> dict[str, str]:
    """All headers of one delivery attempt of *body*."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
        "X-Pixell-Event": event,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }


def retry_delays() -> tuple[int, ...]:
    """The delivery schedule: element ``n - 1`` is the delay in seconds before attempt ``n``.

    Attempts: immediately, then after 30 s, 2 min, 10 min, 30 min, 1 h and 3 h — 7 attempts over
    about 4 h 43 min (docs/CONTRACT.md §7 asks for at least 5 over at least an hour). Each delay counts
    from the previous attempt.
    """
    return _RETRY_DELAYS


def retry_delay(attempt: int) -> int | None:
    """Seconds to wait before attempt number *attempt* (1-based), or None when there is none."""
    if attempt < 1:
        raise ValueError("attempts are numbered from 1")
    if attempt > len(_RETRY_DELAYS):
        return None
    return _RETRY_DELAYS[attempt - 1]


MAX_ATTEMPTS = len(_RETRY_DELAYS)
