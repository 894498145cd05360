"""Encryption at rest for what signing and deploying need in clear: webhook secrets and a deploy's
environment overrides (pixell.crypto, one purpose label each)."""

import json

from pixell.crypto import decrypt, encrypt

WEBHOOK_SECRET_PURPOSE = "webhook-secret"
ENVIRONMENT_PURPOSE = "deploy-environment"
# What an operator reads when a value cannot be decrypted (the API's error, /api/health).
_LABELS = {WEBHOOK_SECRET_PURPOSE: "webhook secret", ENVIRONMENT_PURPOSE: "deploy environment"}


def full_purpose(purpose: str) -> str:
    """The purpose pixell.crypto derives the key for (and rotate_secrets_key re-encrypts under)."""
    return f"deployments.{purpose}"


def encrypt_text(value: str, *, purpose: str) -> str:
    return encrypt(value, purpose=full_purpose(purpose))


def decrypt_text(token: str, *, purpose: str) -> str:
    """Raises pixell.crypto.DecryptionError (a ValueError, and a 503 SECRETS_KEY_MISMATCH in the
    API) when no configured key can decrypt it."""
    return decrypt(token, purpose=full_purpose(purpose), label=_LABELS.get(purpose, "secret"))


def encrypt_json(value, *, purpose: str) -> str:
    return encrypt_text(json.dumps(value, sort_keys=True), purpose=purpose)


def decrypt_json(token: str, *, purpose: str):
    if not token:
        return None
    return json.loads(decrypt_text(token, purpose=purpose))
