"""Ids that arrive as data (a request body, a signed token, Stripe metadata) rather than as a
route's ``<uuid:…>`` segment, which Django's converter has already parsed."""

import uuid


def uuid_or_none(value) -> uuid.UUID | None:
    """``value`` as a UUID, or None when it is not one (a malformed id names no object)."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None
