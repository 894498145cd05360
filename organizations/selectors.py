"""Organization reads. Every object lookup is scoped to the caller's organization; a malformed id
or another organization's object is the same NotFound."""

import uuid

from django.db.models import Q
from django.utils import timezone

from organizations.keys import token_hash
from organizations.models import ApiKey, Invitation, Membership, Organization
from pixell.api.exceptions import NotFound


def uuid_or_none(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None


def organization_memberships_of_user(*, user):
    """The user's memberships, oldest first, with their organizations."""
    return Membership.objects.filter(user=user).select_related("organization").order_by("created_at", "id")


def membership_list(*, organization: Organization):
    return Membership.objects.filter(organization=organization).select_related("user").order_by("created_at", "id")


def membership_get(*, organization: Organization, user_id) -> Membership:
    pk = uuid_or_none(user_id)
    membership = (
        Membership.objects.filter(organization=organization, user_id=pk).select_related("user").first() if pk else None
    )
    if membership is None:
        raise NotFound("Member not found")
    return membership


def invitation_pending_q(now=None) -> Q:
    now = now or timezone.now()
    return Q(accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now)


def invitation_list_pending(*, organization: Organization):
    return (
        Invitation.objects.for_org(organization)
        .filter(invitation_pending_q())
        .select_related("invited_by")
        .order_by("-created_at", "-id")
    )


def invitation_get(*, organization: Organization, invitation_id) -> Invitation:
    pk = uuid_or_none(invitation_id)
    invitation = Invitation.objects.for_org(organization).filter(pk=pk).first() if pk else None
    if invitation is None:
        raise NotFound("Invitation not found")
    return invitation


def invitation_get_by_token(*, token: str) -> Invitation | None:
    # A token names its organization by itself: looking it up across organizations is the point.
    return Invitation.all_orgs.select_related("organization", "invited_by").filter(token_hash=token_hash(token)).first()


def api_key_list(*, organization: Organization):
    return ApiKey.objects.for_org(organization).order_by("-created_at", "-id")


def api_key_get(*, organization: Organization, key_id) -> ApiKey:
    pk = uuid_or_none(key_id)
    key = ApiKey.objects.for_org(organization).filter(pk=pk).first() if pk else None
    if key is None:
        raise NotFound("API key not found")
    return key
