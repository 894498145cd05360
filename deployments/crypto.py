"""Encryption at rest for what signing and deploying need in clear: webhook secrets and a deploy's
environment overrides.

Fernet (AES-128-CBC + HMAC-SHA256) under a key derived from ``PIXELL_SECRETS_KEY`` (CONTRACT §1),
else from ``SECRET_KEY``. The derivation is labelled per purpose so a leaked ciphertext of one kind
cannot be replayed as another.
"""

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def _fernet(purpose: str) -> Fernet:
    master = settings.PIXELL_SECRETS_KEY or settings.SECRET_KEY
    digest = hashlib.sha256(f"pixell.deployments.{purpose}:{master}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt_text(value: str, *, purpose: str) -> str:
    return _fernet(purpose).encrypt(value.encode("utf-8")).decode("ascii")


def decrypt_text(token: str, *, purpose: str) -> str:
    try:
        return _fernet(purpose).decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken as exc:
        raise ValueError(f"cannot decrypt the stored {purpose} (was the secrets key changed?)") from exc


def encrypt_json(value, *, purpose: str) -> str:
    return encrypt_text(json.dumps(value, sort_keys=True), purpose=purpose)


def decrypt_json(token: str, *, purpose: str):
    if not token:
        return None
    return json.loads(decrypt_text(token, purpose=purpose))
