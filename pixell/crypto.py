"""Encryption at rest for what the product must read back in clear: app secrets, webhook secrets,
a deploy's environment overrides.

Fernet (AES-128-CBC + HMAC-SHA256, authenticated) under keys derived with HKDF-SHA256 from
``PIXELL_SECRETS_KEY``, else from ``SECRET_KEY`` (docs/CONTRACT.md §1). Each use names its ``purpose``,
which labels the derivation, so a ciphertext of one kind cannot be decrypted as another.

Rotation: ``PIXELL_SECRETS_KEY`` may list several keys, comma-separated. The first encrypts; every
one decrypts, so values written under an older key stay readable while the old key is listed.
"""

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class DecryptionError(ValueError):
    """A stored value cannot be decrypted with any configured key (the secrets key changed)."""


def _masters() -> tuple[str, ...]:
    configured = settings.PIXELL_SECRETS_KEY
    if configured:
        keys = tuple(key.strip() for key in configured.split(",") if key.strip())
        if keys:
            return keys
    return (settings.SECRET_KEY,)


@functools.lru_cache(maxsize=32)
def _multi_fernet(masters: tuple[str, ...], purpose: str) -> MultiFernet:
    info = f"pixell.{purpose}.v1".encode()
    return MultiFernet(
        [
            Fernet(
                base64.urlsafe_b64encode(
                    HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(
                        master.encode()
                    )
                )
            )
            for master in masters
        ]
    )


def encrypt(value: str, *, purpose: str) -> str:
    # Looked up per call (cached by value), so a changed setting takes effect, in tests too.
    return _multi_fernet(_masters(), purpose).encrypt(value.encode("utf-8")).decode("ascii")


def decrypt(token: str, *, purpose: str) -> str:
    try:
        return _multi_fernet(_masters(), purpose).decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeEncodeError) as exc:
        raise DecryptionError(
            f"cannot decrypt the stored {purpose}: was PIXELL_SECRETS_KEY changed?"
        ) from exc
