"""API key material: generation and hashing. Keys are stored only as an HMAC (docs/CONTRACT.md §2)."""

import hashlib
import hmac
import secrets

from django.conf import settings

API_KEY_PREFIX = "pac_"


def api_key_generate() -> str:
    # 32 random bytes = 256 bits, URL-safe so it survives shells and headers unquoted.
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def api_key_hash(key: str) -> str:
    # An HMAC under the server secret, so a leaked table cannot be brute-forced offline
    # without the secret as well. Lookup is by this digest (an indexed equality), which
    # reveals nothing about a key through timing.
    return hmac.new(settings.SECRET_KEY.encode(), key.encode(), hashlib.sha256).hexdigest()


def api_key_preview(key: str) -> str:
    return key[:12] + "..."


def token_hash(token: str) -> str:
    """Hash of an emailed one-time token (invitations)."""
    return hashlib.sha256(token.encode()).hexdigest()
