"""Organization writes: creation, membership, API keys. Views, admin and tasks all call these."""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.models import TransactionType
from billing.services import credits_apply
from organizations.keys import api_key_generate, api_key_hash, api_key_preview
from organizations.models import ApiKey, Membership, Organization, Role


def organization_create(*, name: str, owner, signup_credits: int | None = None) -> Organization:
    """A new organization with ``owner`` as its owner, and the signup credits as a ``bonus`` row."""
    credits = settings.PIXELL_SIGNUP_CREDITS if signup_credits is None else signup_credits
    with transaction.atomic():
        org = Organization.objects.create(name=name[:100])
        Membership.objects.create(organization=org, user=owner, role=Role.OWNER)
        if credits > 0:
            credits_apply(organization=org, amount=credits, type=TransactionType.BONUS, description="Signup credits", actor=owner)
    return org


def api_key_create(*, organization: Organization, name: str, actor=None) -> tuple[ApiKey, str]:
    """Returns the key row and the full key, which is shown once and never stored."""
    raw = api_key_generate()
    key = ApiKey.objects.for_org(organization).create(
        organization=organization,
        name=name,
        key_hash=api_key_hash(raw),
        key_preview=api_key_preview(raw),
        created_by=actor,
    )
    return key, raw


def api_key_rotate(*, api_key: ApiKey) -> tuple[ApiKey, str]:
    """New key material; the old key fails at once (its hash is gone)."""
    raw = api_key_generate()
    api_key.key_hash = api_key_hash(raw)
    api_key.key_preview = api_key_preview(raw)
    api_key.rotated_at = timezone.now()
    api_key.save(update_fields=["key_hash", "key_preview", "rotated_at", "updated_at"])
    return api_key, raw
