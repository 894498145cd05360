"""Dashboard pages that compose several domains: the overview, and the organization's settings
page (organization settings, the agent apps' signing keys, deleting the organization).

This package sits above every domain app (docs/ARCHITECTURE.md): it may import any of them, and
none imports it. Thin: every write is the service the API calls.
"""

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse

from agentapps import selectors as agentapp_selectors
from agentapps import services as agentapp_services
from agentapps.api.serializers import SigningKeyInputSerializer
from billing.selectors import credits_balance_summary
from deployments import selectors as deployment_selectors
from organizations import services
from organizations.api.serializers import OrganizationUpdateInputSerializer
from organizations.models import Role
from pixell.api.pagination import paginate
from pixell.api.viewsets import dashboard_render, dashboard_view, form_error, parse_form
from pixell.errors import PixellError, ValidationError
from usage.selectors import usage_activity_queryset

OVERVIEW_DEPLOYMENTS = 5
OVERVIEW_ACTIVITY = 8


# --- overview -------------------------------------------------------------------------------------


@dashboard_view(methods=["GET"])
def overview_page(request, tenancy):
    organization = tenancy.organization
    deployments, _ = deployment_selectors.deployment_list_for_organization(
        organization=organization, cursor=None, limit=OVERVIEW_DEPLOYMENTS
    )
    activity, _ = paginate(
        usage_activity_queryset(organization=organization),
        cursor=None,
        limit=OVERVIEW_ACTIVITY,
        time_field="occurred_at",
    )
    context = {
        "balance": credits_balance_summary(organization=organization),
        "apps_count": agentapp_selectors.agent_app_list(organization=organization).count(),
        "deployments": deployments,
        "activity": activity,
    }
    return dashboard_render(request, "dashboard/overview.html", context)


# --- settings and signing keys -----------------------------------------------------------------------------


def _settings(request, tenancy, *, status=200, **extra):
    context = {
        "signing_keys": agentapp_selectors.signing_key_list(organization=tenancy.organization),
        "form_errors": {},
        **extra,
    }
    return dashboard_render(request, "organizations/settings.html", context, status=status)


@dashboard_view
def settings_page(request, tenancy):
    if request.method == "GET":
        return _settings(request, tenancy)
    tenancy.require(Role.ADMIN)
    try:
        data = parse_form(
            OrganizationUpdateInputSerializer,
            {
                "name": request.POST.get("name", "").strip(),
                "require_signed_packages": "true"
                if request.POST.get("require_signed_packages")
                else "false",
            },
        )
        services.organization_update(organization=tenancy.organization, actor=tenancy.user, **data)
    except PixellError as exc:
        return _settings(
            request,
            tenancy,
            status=exc.status_code,
            form_errors={"general": form_error(exc)},
            form=request.POST,
        )
    messages.success(request, "Settings saved.")
    return redirect("dashboard-settings")


@dashboard_view(role=Role.ADMIN, methods=["POST"])
def signing_key_create(request, tenancy):
    try:
        data = parse_form(
            SigningKeyInputSerializer,
            {
                "name": request.POST.get("name", "").strip(),
                "public_key": request.POST.get("public_key", "").strip(),
            },
        )
        key = agentapp_services.signing_key_create(
            organization=tenancy.organization, actor=tenancy.user, **data
        )
    except PixellError as exc:
        return _settings(
            request,
            tenancy,
            status=exc.status_code,
            form_errors={"signing_key": form_error(exc)},
            key_form=request.POST,
        )
    messages.success(request, f"Signing key “{key.name}” added ({key.fingerprint[:16]}…).")
    return HttpResponseRedirect(reverse("dashboard-settings") + "#signing-keys")


@dashboard_view(role=Role.ADMIN, methods=["POST"])
def signing_key_delete(request, tenancy, key_id):
    key = agentapp_selectors.signing_key_get(organization=tenancy.organization, key_id=key_id)
    agentapp_services.signing_key_delete(signing_key=key, actor=tenancy.user)
    messages.success(request, f"Signing key “{key.name}” deleted.")
    return HttpResponseRedirect(reverse("dashboard-settings") + "#signing-keys")


@dashboard_view(role=Role.OWNER, methods=["POST"])
def organization_delete(request, tenancy):
    organization = tenancy.organization
    if request.POST.get("confirm_name", "").strip() != organization.name:
        error = ValidationError(
            "Type the organization's name to confirm",
            details={"confirm_name": [f"Type “{organization.name}” exactly."]},
        )
        return _settings(request, tenancy, status=400, form_errors={"delete": form_error(error)})
    services.organization_delete(organization=organization, actor=tenancy.user)
    messages.success(
        request, f"Organization “{organization.name}” and everything in it were deleted."
    )
    return redirect("dashboard")
