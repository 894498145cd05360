"""Base API views and the dashboard's page decorator. Tenancy and the role check happen here, once,
for every organization route and page."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from rest_framework.views import APIView

from organizations.models import Role
from organizations.roles import check_role
from pixell.api.authentication import identify
from pixell.api.tenancy import dashboard_tenancy, resolve_tenancy
from pixell.errors import (
    AuthenticationFailed,
    NotFound,
    PermissionDenied,
    PixellError,
    ValidationError,
)


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
        required = self.required_roles.get(request.method, Role.MEMBER)
        check_role(role=self.role, required=required)


# --- dashboard pages -------------------------------------------------------------------------------
# The server-rendered dashboard's counterpart of OrgScopedAPIView: the same tenancy (the chosen
# organization, else the oldest) and the same role check, with pages instead of JSON envelopes.


def dashboard_render(request, template: str, context: dict | None = None, *, status: int = 200):
    """Render a dashboard page with the shell's context: the user, the current organization and
    role, and the user's organizations for the nav's switcher."""
    tenancy = dashboard_tenancy(request)
    shell = {}
    if tenancy is not None:
        # ``user`` explicitly: a visitor signed in by the API's cookie has no Django session user.
        shell = {
            "user": tenancy.user,
            "organization": tenancy.organization,
            "role": tenancy.role,
            "memberships": tenancy.memberships,
            "is_admin": tenancy.at_least(Role.ADMIN),
            "is_owner": tenancy.role == Role.OWNER,
        }
    return render(request, template, {**shell, **(context or {})}, status=status)


def dashboard_error(request, error: PixellError):
    return dashboard_render(
        request, "dashboard/error.html", {"error": error}, status=error.status_code
    )


def dashboard_view(view=None, *, role: str = Role.MEMBER, methods=("GET", "POST")):
    """Decorates a dashboard page ``view(request, tenancy, *args, **kwargs)``.

    Signed-out visitors are sent to LOGIN_URL; ``role`` is the least role the whole page needs
    (finer rules stay in the services); another organization's object (NotFound) is a 404 page and
    a refused action a 403 page. Every answer is uncacheable: pages show balances and, once, keys.
    """

    def decorate(func):
        @wraps(func)
        @never_cache
        @require_http_methods(list(methods))
        def wrapper(request, *args, **kwargs):
            tenancy = dashboard_tenancy(request)
            if tenancy is None:
                return redirect_to_login(request.get_full_path())
            if tenancy.organization is None:
                return dashboard_render(request, "dashboard/no_organization.html", status=200)
            try:
                tenancy.require(role)
                return func(request, tenancy, *args, **kwargs)
            except PixellError as exc:
                # Views turn the errors of their forms into messages; what escapes (a foreign or
                # malformed id, a refused role) still becomes a page, never a 500.
                return dashboard_error(request, exc)

        return wrapper

    return decorate(view) if view is not None else decorate


@dashboard_view(methods=("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
def dashboard_not_found(request, tenancy):
    """A /dashboard/ path no route matches (Django's 404 handler sends it here), such as a
    malformed id that its route's ``<uuid:…>`` refused: answered like a page asked for an id that
    names nothing — the sign-in redirect, else the dashboard's 404 page."""
    raise NotFound("Page not found")


def parse_form(serializer_class, data) -> dict:
    """Validate form data with the API's own input serializer (one set of field rules); errors
    become a ValidationError whose details name the fields, like the API's."""
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        raise ValidationError("Please correct the errors below", details=serializer.errors)
    return dict(serializer.validated_data)


def form_error(error: PixellError) -> dict:
    """What a page shows for a refused form: the message, the field errors (VALIDATION_ERROR
    details) and the reasons (PACKAGE_VALIDATION_FAILED details, a list)."""
    fields, reasons = {}, []
    details = error.details
    if isinstance(details, dict) and error.code == ValidationError.code:
        for field, value in details.items():
            items = value if isinstance(value, list | tuple) else [value]
            fields[str(field)] = [_text(item) for item in items]
    elif isinstance(details, list | tuple):
        reasons = [_text(item) for item in details]
    return {
        "message": error.message,
        "code": error.code,
        "status": error.status_code,
        "fields": fields,
        "reasons": reasons,
    }


def _text(item) -> str:
    if isinstance(item, dict):
        return "; ".join(f"{key}: {_text(value)}" for key, value in item.items())
    if isinstance(item, list | tuple):
        return "; ".join(_text(value) for value in item)
    return str(item)
