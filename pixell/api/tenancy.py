"""Current-organization resolution (CONTRACT §3), done once per request by the base view.

Order: the API key's organization; the ``X-Organization-Id`` header; the one last chosen with
``POST /api/organizations/switch``; the oldest membership. Never from a request body.
"""

import uuid
from dataclasses import dataclass

from django.db.models import F

from organizations.models import Membership, Organization, Role
from pixell.api.authentication import Identity
from pixell.api.exceptions import NotFound, ValidationError

HEADER = "X-Organization-Id"


@dataclass(frozen=True)
class Tenancy:
    organization: Organization
    role: str
    membership: Membership | None


def memberships_of(user):
    """A user's memberships, the current one first."""
    return (
        Membership.objects.filter(user=user)
        .select_related("organization")
        .order_by(F("chosen_at").desc(nulls_last=True), "created_at", "id")
    )


def resolve_tenancy(request, identity: Identity) -> Tenancy:
    if identity.api_key is not None:
        # An API key acts as a member of its one organization (CONTRACT §2).
        return Tenancy(organization=identity.api_key.organization, role=Role.MEMBER, membership=None)
    header = request.headers.get(HEADER)
    if header:
        try:
            org_id = uuid.UUID(header.strip())
        except ValueError as exc:
            raise ValidationError(f"{HEADER} is not a valid organization id", details={HEADER: ["Not a valid UUID."]}) from exc
        membership = Membership.objects.select_related("organization").filter(user=identity.user, organization_id=org_id).first()
        if membership is None:
            # Not a member: the organization is invisible, as any foreign object is.
            raise NotFound("Organization not found", details={HEADER: ["You are not a member of this organization."]})
    else:
        membership = memberships_of(identity.user).first()
        if membership is None:
            raise NotFound("You do not belong to any organization")
    return Tenancy(organization=membership.organization, role=membership.role, membership=membership)
