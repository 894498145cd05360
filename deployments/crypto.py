"""Encryption at rest for what signing and deploying need in clear: webhook secrets and a deploy's
environment overrides (pixell.crypto, one purpose label each)."""

import json

from pixell.crypto import decrypt, encrypt


def encrypt_text(value: str, *, purpose: str) -> str:
    return encrypt(value, purpose=f"deployments.{purpose}")


def decrypt_text(token: str, *, purpose: str) -> str:
    """Raises pixell.crypto.DecryptionError (a ValueError) when the secrets key changed."""
    return decrypt(token, purpose=f"deployments.{purpose}")


def encrypt_json(value, *, purpose: str) -> str:
    return encrypt_text(json.dumps(value, sort_keys=True), purpose=purpose)


def decrypt_json(token: str, *, purpose: str):
    if not token:
        return None
    return json.loads(decrypt_text(token, purpose=purpose))
