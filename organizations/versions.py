"""Organization version tokens: how per-process caches learn that an organization changed.

The API-key identity cache (pixell.api.authentication) keeps keys and their organization in each
process and confirms every use against this token, read from the shared cache in the same round
trip as the rate limit. Every write that changes what a key may do or what its organization looks
like — key rotation or deletion, the organization's update, deletion or balance — calls
``organization_changed``, so every process drops its copy on the next request.
"""

import secrets

from django.core.cache import cache
from django.db import transaction


def organization_version_key(organization_id) -> str:
    return f"orgver:{organization_id}"


def _new_token() -> str:
    return secrets.token_hex(8)


def organization_version(organization_id) -> str:
    """The current token, created when the shared cache has none (new, evicted, flushed)."""
    key = organization_version_key(organization_id)
    token = cache.get(key)
    if token is None:
        cache.add(key, _new_token(), timeout=None)
        token = cache.get(key)
    return token


def organization_changed(organization_id) -> None:
    """Replace the token now and again after commit.

    Now: this process and others stop trusting their copies at once. After commit: a copy read
    between the two (the old row, as the transaction has not committed) is dropped too.
    """
    key = organization_version_key(organization_id)
    cache.set(key, _new_token(), timeout=None)
    transaction.on_commit(lambda: cache.set(key, _new_token(), timeout=None))
