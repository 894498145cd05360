"""Encryption at rest for what the product must read back in clear: app secrets, webhook secrets,
a deploy's environment overrides.

Fernet (AES-128-CBC + HMAC-SHA256, authenticated) under keys derived with HKDF-SHA256 from
``PIXELL_SECRETS_KEY``, else from ``SECRET_KEY`` (docs/CONTRACT.md §1). Each use names its ``purpose``,
which labels the derivation, so a ciphertext of one kind cannot be decrypted as another.

Rotation (docs/DECISIONS.md "Secrets-key rotation"): ``PIXELL_SECRETS_KEY`` may list several keys,
comma-separated. The first encrypts; every one decrypts. A stored value is ``<key id>:<token>``:
the key id (12 hex characters derived from the key, revealing nothing usable about it) says which
key wrote it, so ``rotate_secrets_key`` skips values already under the first key by a query, and
``/api/health`` finds values under a key no longer listed without decrypting anything. Values
written before key ids existed (a bare token) are tried against every key, as before.

The apps that store encrypted values register their columns here (``encrypted_column_register``,
from their ``AppConfig.ready()``), so the command and the health check reach every column without
importing a domain app.
"""

import base64
import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import transaction

from pixell.errors import PixellError

KEY_ID_SEPARATOR = ":"  # never in a Fernet token (URL-safe base64)


class DecryptionError(PixellError, ValueError):
    """A stored value cannot be decrypted with any configured key: the key it was written under is
    missing from PIXELL_SECRETS_KEY (or the value is damaged). The server's configuration, not the
    caller's request, is at fault, so the API answers 503 SECRETS_KEY_MISMATCH, never a 500."""

    status_code = 503
    code = "SECRETS_KEY_MISMATCH"
    default_message = (
        "A stored secret cannot be decrypted: the key it was written under is not in "
        "PIXELL_SECRETS_KEY"
    )


def _masters() -> tuple[str, ...]:
    configured = settings.PIXELL_SECRETS_KEY
    if configured:
        keys = tuple(key.strip() for key in configured.split(",") if key.strip())
        if keys:
            return keys
    return (settings.SECRET_KEY,)


@functools.lru_cache(maxsize=32)
def key_id(master: str) -> str:
    """A short public name of a master key: HKDF under its own label, so it is unrelated to any
    encryption key derived from the same master."""
    return (
        HKDF(algorithm=hashes.SHA256(), length=6, salt=None, info=b"pixell.key-id.v1")
        .derive(master.encode())
        .hex()
    )


def current_key_id() -> str:
    """The key id new values are written under (the first key)."""
    return key_id(_masters()[0])


def configured_key_ids() -> tuple[str, ...]:
    return tuple(key_id(master) for master in _masters())


@functools.lru_cache(maxsize=64)
def _fernet(master: str, purpose: str) -> Fernet:
    info = f"pixell.{purpose}.v1".encode()
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(
        master.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def _split(token: str) -> tuple[str | None, str]:
    kid, separator, body = token.rpartition(KEY_ID_SEPARATOR)
    return (kid, body) if separator else (None, token)


def encrypt(value: str, *, purpose: str) -> str:
    # Looked up per call (cached by value), so a changed setting takes effect, in tests too.
    master = _masters()[0]
    token = _fernet(master, purpose).encrypt(value.encode("utf-8")).decode("ascii")
    return f"{key_id(master)}{KEY_ID_SEPARATOR}{token}"


def decrypt(token: str, *, purpose: str, label: str = "secret") -> str:
    """The clear text of a stored value; ``DecryptionError`` naming the key problem otherwise."""
    kid, body = _split(token or "")
    masters = _masters()
    if kid is not None:
        master = next((m for m in masters if key_id(m) == kid), None)
        if master is None:
            raise DecryptionError(
                f"A stored {label} cannot be decrypted: it was written under secrets key {kid}, "
                f"which is not in PIXELL_SECRETS_KEY (listed: {', '.join(map(key_id, masters))})"
            )
        candidates = [_fernet(master, purpose)]
    else:
        candidates = [_fernet(master, purpose) for master in masters]
    try:
        return MultiFernet(candidates).decrypt(body.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeEncodeError, UnicodeDecodeError) as exc:
        raise DecryptionError(
            f"A stored {label} cannot be decrypted with any key in PIXELL_SECRETS_KEY "
            f"(a key it was written under is missing, or the value is damaged)"
        ) from exc


# --- the stored columns -------------------------------------------------------------------------


@dataclass(frozen=True)
class EncryptedColumn:
    label: str  # "app secrets": what an operator reads in the command's and health's output
    manager: Callable  # () -> a manager over every row (the org-scoped bypass, ``all_orgs``)
    field: str
    purpose: str


@dataclass
class ColumnRotation:
    """What ``column_reencrypt`` did to one column."""

    label: str
    reencrypted: int = 0
    already_current: int = 0
    changed_meanwhile: int = 0  # rewritten by the application while we worked: left as written
    undecryptable: list = field(default_factory=list)  # primary keys


_COLUMNS: dict[str, EncryptedColumn] = {}


def encrypted_column_register(*, label: str, manager: Callable, field: str, purpose: str) -> None:
    """Called from an app's ``AppConfig.ready()`` for each column holding ``encrypt`` output."""
    _COLUMNS[label] = EncryptedColumn(label=label, manager=manager, field=field, purpose=purpose)


def encrypted_columns() -> list[EncryptedColumn]:
    return list(_COLUMNS.values())


def column_rows_not_current(column: EncryptedColumn):
    """Rows of a column whose value is not (yet) under the first key, in primary-key order."""
    return (
        column.manager()
        .exclude(**{column.field: ""})
        .exclude(**{f"{column.field}__startswith": current_key_id() + KEY_ID_SEPARATOR})
        .order_by("pk")
    )


# Values without a key id are tried one by one; the health check stops after this many per column.
LEGACY_CHECK_LIMIT = 1000


def undecryptable_counts() -> dict[str, int]:
    """Per column label, how many stored values no configured key can decrypt (0s left out).

    Values with a key id are judged by it, in the database (no decryption); values without one
    (written before key ids existed) are tried, at most LEGACY_CHECK_LIMIT per column."""
    prefixes = [kid + KEY_ID_SEPARATOR for kid in configured_key_ids()]
    counts = {}
    for column in encrypted_columns():
        rows = column.manager().exclude(**{column.field: ""})
        for prefix in prefixes:
            rows = rows.exclude(**{f"{column.field}__startswith": prefix})
        contains = {f"{column.field}__contains": KEY_ID_SEPARATOR}
        bad = rows.filter(**contains).count()
        for token in rows.exclude(**contains).values_list(column.field, flat=True)[
            :LEGACY_CHECK_LIMIT
        ]:
            try:
                decrypt(token, purpose=column.purpose)
            except DecryptionError:
                bad += 1
        if bad:
            counts[column.label] = bad
    return counts


def column_reencrypt(
    column: EncryptedColumn, *, batch_size: int = 500, dry_run: bool = False
) -> ColumnRotation:
    """Re-encrypt every value of ``column`` that is not under the first key, in batches of
    ``batch_size`` rows (one short transaction each), walking the primary key so that values no key
    can decrypt are passed once, not retried forever. Safe to interrupt and run again: values
    already under the first key are skipped by the query (their key id)."""
    result = ColumnRotation(label=column.label)
    result.already_current = (
        column.manager()
        .filter(**{f"{column.field}__startswith": current_key_id() + KEY_ID_SEPARATOR})
        .count()
    )
    last_pk = None
    while True:
        rows = column_rows_not_current(column)
        if last_pk is not None:
            rows = rows.filter(pk__gt=last_pk)
        batch = list(rows.values_list("pk", column.field)[:batch_size])
        if not batch:
            return result
        last_pk = batch[-1][0]
        updates = []
        for pk, token in batch:
            try:
                updates.append(
                    (
                        pk,
                        token,
                        encrypt(decrypt(token, purpose=column.purpose), purpose=column.purpose),
                    )
                )
            except DecryptionError:
                result.undecryptable.append(pk)
        if dry_run:
            result.reencrypted += len(updates)
            continue
        with transaction.atomic():
            for pk, old, new in updates:
                # Compare-and-set on the old value: a value the application rewrote meanwhile is
                # already under the first key, and must not be overwritten with the old clear text.
                if (
                    column.manager()
                    .filter(pk=pk, **{column.field: old})
                    .update(**{column.field: new})
                ):
                    result.reencrypted += 1
                else:
                    result.changed_meanwhile += 1
