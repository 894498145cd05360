"""Cryptography of agent apps: app secrets encrypted at rest (pixell.crypto, purpose
"app-secrets"), Ed25519 package signatures."""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from pixell.crypto import DecryptionError, decrypt, encrypt

ED25519_KEY_BYTES = 32
ED25519_SIGNATURE_BYTES = 64
_PURPOSE = "app-secrets"
SECRETS_PURPOSE = _PURPOSE  # the column registration (agentapps.apps) names it

# A stored secret cannot be decrypted: the secrets key changed since it was written.
SecretDecryptionError = DecryptionError


def secret_encrypt(value: str) -> str:
    return encrypt(value, purpose=_PURPOSE)


def secret_decrypt(token: str) -> str:
    return decrypt(token, purpose=_PURPOSE, label="app secret")


# --- Ed25519 signing keys ---------------------------------------------------------------------


class InvalidPublicKey(ValueError):
    pass


def public_key_parse(text: str) -> bytes:
    """The raw 32 bytes of an Ed25519 public key given as PEM or as base64 of the raw bytes."""
    text = (text or "").strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text.encode("ascii"))
        except (ValueError, UnicodeEncodeError, TypeError) as exc:
            raise InvalidPublicKey("Not a valid PEM public key") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise InvalidPublicKey("Only Ed25519 public keys are supported")
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    raw = _b64decode(text)
    if raw is None or len(raw) != ED25519_KEY_BYTES:
        raise InvalidPublicKey(
            "Expected a PEM public key or the base64 of the raw 32-byte Ed25519 key"
        )
    try:
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise InvalidPublicKey("Not a valid Ed25519 public key") from exc
    return raw


def public_key_fingerprint(raw: bytes) -> str:
    """sha256 hex of the raw public key: reproducible with any tool that can print the raw key."""
    return hashlib.sha256(raw).hexdigest()


def signature_decode(data: bytes) -> bytes | None:
    """A detached signature file holds the raw 64 bytes or their base64 text; None if neither."""
    if len(data) == ED25519_SIGNATURE_BYTES:
        return data
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return None
    raw = _b64decode(text.strip())
    return raw if raw is not None and len(raw) == ED25519_SIGNATURE_BYTES else None


def signature_verify(*, public_keys: list[bytes], signature: bytes, data) -> bool:
    """True when one of the keys verifies ``signature`` over ``data`` (bytes or any buffer)."""
    for raw in public_keys:
        try:
            Ed25519PublicKey.from_public_bytes(raw).verify(signature, data)
        except (InvalidSignature, ValueError):
            continue
        return True
    return False


def _b64decode(text: str) -> bytes | None:
    """Standard or URL-safe base64, padding optional, whitespace ignored; None when not base64."""
    compact = "".join(text.split()).replace("-", "+").replace("_", "/")
    compact += "=" * (-len(compact) % 4)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None
