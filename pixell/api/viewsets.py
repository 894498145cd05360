"""Base API views. Tenancy and the role check happen here, once, for every organization route."""

from rest_framework.views import APIView

from organizations.models import Role
from pixell.api.authentication import identify
from pixell.api.exceptions import AuthenticationFailed, PermissionDenied
from pixell.api.permissions import READ_METHODS, check_role
from pixell.api.tenancy import resolve_tenancy


class AuthenticatedAPIView(APIView):
    """A signed-in caller; no organization resolved (auth/session, switch, invitations/accept)."""

    allow_api_keys = True

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        identity = identify(request._request)
        if identity is None:
            raise AuthenticationFailed("Authentication required")
        self.identity = identity
        self.api_key = identity.api_key
        self.actor = identity.user  # a User, or None for API-key callers
        if self.api_key is not None and not self.allow_api_keys:
            raise PermissionDenied("API keys cannot perform this action; sign in as a user")


class OrgScopedAPIView(AuthenticatedAPIView):
    """Every organization route: ``self.organization`` and ``self.role`` are set before the handler.

    ``required_roles`` maps HTTP methods to the least role; unlisted reads need ``member`` and
    unlisted writes ``member`` too (the matrix lets members create and deploy). Subclasses must not
    override ``initial``; they declare policy instead.
    """

    required_roles: dict[str, str] = {}
    api_key_role: str = Role.MEMBER

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        tenancy = resolve_tenancy(request._request, self.identity)
        self.organization = tenancy.organization
        self.membership = tenancy.membership
        self.role = self.api_key_role if self.api_key is not None else tenancy.role
        request._request.pixell_organization = self.organization  # for usage counting
        required = self.required_roles.get(request.method, Role.MEMBER if request.method in READ_METHODS else Role.MEMBER)
        check_role(role=self.role, required=required)
