"""Current-organization resolution (docs/CONTRACT.md §3), done once per request by the base view.

Order: the API key's organization; the ``X-Organization-Id`` header; the one last chosen with
``POST /api/organizations/switch``; the oldest membership. Never from a request body.
"""

import uuid
from dataclasses import dataclass

from organizations.models import Membership, Organization, Role
from organizations.roles import check_role
from organizations.selectors import memberships_of
from pixell.api.authentication import Identity, identify
from pixell.errors import AuthenticationFailed, NotFound, PermissionDenied, ValidationError

HEADER = "X-Organization-Id"


@dataclass(frozen=True)
class Tenancy:
    organization: Organization
    role: str
    membership: Membership | None


def resolve_tenancy(request, identity: Identity) -> Tenancy:
    if identity.api_key is not None:
        # An API key acts as a member of its one organization (docs/CONTRACT.md §2).
        return Tenancy(
            organization=identity.api_key.organization, role=Role.MEMBER, membership=None
        )
    header = request.headers.get(HEADER)
    if header:
        try:
            org_id = uuid.UUID(header.strip())
        except ValueError as exc:
            raise ValidationError(
                f"{HEADER} is not a valid organization id", details={HEADER: ["Not a valid UUID."]}
            ) from exc
        membership = (
            Membership.objects.select_related("organization")
            .filter(user=identity.user, organization_id=org_id)
            .first()
        )
        if membership is None:
            # Not a member: the organization is invisible, as any foreign object is.
            raise NotFound(
                "Organization not found",
                details={HEADER: ["You are not a member of this organization."]},
            )
    else:
        membership = memberships_of(identity.user).first()
        if membership is None:
            raise NotFound("You do not belong to any organization")
    return Tenancy(
        organization=membership.organization, role=membership.role, membership=membership
    )


# --- dashboard (server-rendered pages) -----------------------------------------------------------


@dataclass(frozen=True)
class DashboardTenancy:
    """Who is signed in to the dashboard and in which organization. ``memberships`` are all of the
    user's organizations, the current one first (the nav's switcher lists them)."""

    user: object
    memberships: tuple

    @property
    def membership(self) -> Membership | None:
        return self.memberships[0] if self.memberships else None

    @property
    def organization(self) -> Organization | None:
        return self.membership.organization if self.membership else None

    @property
    def role(self) -> str | None:
        return self.membership.role if self.membership else None

    def at_least(self, required: str) -> bool:
        return self.role is not None and Role.at_least(self.role, required)

    def require(self, required: str) -> None:
        """The role matrix's refusal (403 PERMISSION_DENIED), as in the API."""
        if self.role is None:
            raise PermissionDenied(f"This action needs the {required} role")
        check_role(role=self.role, required=required)


def dashboard_user(request):
    """The signed-in person of a browser request, or None.

    The dashboard's Django session comes first; the API's auth cookie (set by ``POST /api/auth/login``)
    proves who is here too. API keys are not people and never sign in to pages. A stale or revoked
    cookie next to a live session must not sign the session out, hence the order.
    """
    session_user = getattr(request, "user", None)
    if session_user is not None and session_user.is_authenticated:
        return session_user
    try:
        identity = identify(request)
    except AuthenticationFailed:
        return None
    return identity.user if identity is not None else None


def dashboard_tenancy(request) -> DashboardTenancy | None:
    """The page's user and current organization (docs/CONTRACT.md §3 order without the header: the one last
    chosen with switch, else the oldest membership). None when nobody is signed in. One query."""
    cached = getattr(request, "_pixell_dashboard_tenancy", None)
    if cached is not None:
        return cached
    user = dashboard_user(request)
    if user is None:
        return None
    tenancy = DashboardTenancy(user=user, memberships=tuple(memberships_of(user)))
    request._pixell_dashboard_tenancy = tenancy
    return tenancy
