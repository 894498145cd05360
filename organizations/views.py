"""Dashboard pages of organizations: the organization switcher, API keys, members and invitations,
and the invitation page an emailed link opens. The overview and the settings page (with signing
keys) compose several domains and live in dashboard/views.py.

Thin: every write is the service the API calls; finer role rules (who may remove or demote whom,
the last owner) are the services' and come back as messages.
"""

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache

from organizations import selectors, services
from organizations.api.serializers import (
    ApiKeyCreateInputSerializer,
    InvitationCreateInputSerializer,
    MemberUpdateInputSerializer,
    OrganizationSwitchInputSerializer,
)
from organizations.models import Role
from pixell.api.tenancy import dashboard_user
from pixell.api.viewsets import dashboard_render, dashboard_view, form_error, parse_form
from pixell.errors import PixellError


@never_cache
def invitation_page(request, token: str):
    invitation = selectors.invitation_get_by_token(token=token)
    user = dashboard_user(request)
    context = {
        "invitation": invitation,
        "user_email": user.email if user is not None else None,
        "login_url": f"{settings.LOGIN_URL}?{urlencode({'next': request.path})}",
        "accepted": False,
        "error": None,
    }
    if invitation is None:
        return render(request, "organizations/invitation.html", context, status=404)
    try:
        services.invitation_check_usable(invitation=invitation)
        if request.method == "POST" and user is not None:
            # Django's CSRF middleware has checked the form's token: a foreign page cannot make a
            # signed-in visitor join an organization.
            services.invitation_accept(token=token, user=user)
            context["accepted"] = True
    except PixellError as exc:
        context["error"] = (
            (exc.details or {}).get("token", [exc.message])[0]
            if isinstance(exc.details, dict)
            else exc.message
        )
        return render(request, "organizations/invitation.html", context, status=exc.status_code)
    if context["accepted"]:
        # The current organization does not change on accepting (docs/DECISIONS.md): the page
        # names it and offers the switch, which is the user's explicit choice.
        current = selectors.memberships_of(user).first()
        context["current_organization"] = current.organization if current else None
    elif user is not None and invitation.email.lower() != user.email.lower():
        context["error"] = (
            f"This invitation was sent to {invitation.email}; you are signed in as {user.email}."
        )
    return render(request, "organizations/invitation.html", context)


# --- organization switcher ---------------------------------------------------------------------------


@dashboard_view(methods=["POST"])
def switch_organization(request, tenancy):
    data = parse_form(
        OrganizationSwitchInputSerializer,
        {"organization_id": request.POST.get("organization_id", "")},
    )
    membership = services.organization_switch(
        user=tenancy.user, organization_id=data["organization_id"]
    )
    messages.success(request, f"Switched to {membership.organization.name}.")
    # To the overview, not back: the page being left may show an object of the other organization.
    return redirect("dashboard")


# --- API keys (admins) ----------------------------------------------------------------------------------


def _api_keys(request, tenancy, *, status=200, **extra):
    keys = (
        selectors.api_key_list(organization=tenancy.organization)
        if tenancy.at_least(Role.ADMIN)
        else None
    )
    return dashboard_render(
        request,
        "organizations/api_keys.html",
        {"api_keys": keys, "form_errors": {}, **extra},
        status=status,
    )


@dashboard_view
def api_keys_page(request, tenancy):
    # Members get the page with an explanation instead of the list: listing keys is key
    # management, which needs admin (docs/DECISIONS.md).
    if request.method == "GET":
        return _api_keys(request, tenancy)
    tenancy.require(Role.ADMIN)
    try:
        data = parse_form(
            ApiKeyCreateInputSerializer, {"name": request.POST.get("name", "").strip()}
        )
        key, raw = services.api_key_create(
            organization=tenancy.organization, name=data["name"], actor=tenancy.user
        )
    except PixellError as exc:
        return _api_keys(
            request,
            tenancy,
            status=exc.status_code,
            form_errors={"create": form_error(exc)},
            form=request.POST,
        )
    # Rendered, not redirected: the key is in this response only (never in the session or a cache).
    return _api_keys(request, tenancy, new_key=key, new_key_raw=raw, new_key_action="created")


@dashboard_view(role=Role.ADMIN, methods=["POST"])
def api_key_rotate(request, tenancy, key_id):
    key = selectors.api_key_get(organization=tenancy.organization, key_id=key_id)
    key, raw = services.api_key_rotate(api_key=key, actor=tenancy.user)
    return _api_keys(request, tenancy, new_key=key, new_key_raw=raw, new_key_action="rotated")


@dashboard_view(role=Role.ADMIN, methods=["POST"])
def api_key_delete(request, tenancy, key_id):
    key = selectors.api_key_get(organization=tenancy.organization, key_id=key_id)
    services.api_key_delete(api_key=key, actor=tenancy.user)
    messages.success(
        request, f"API key “{key.name}” ({key.key_preview}) deleted; it stops working at once."
    )
    return redirect("dashboard-api-keys")


# --- members and invitations -------------------------------------------------------------------------------


def _members(request, tenancy, *, status=200, **extra):
    organization = tenancy.organization
    context = {
        "members": selectors.membership_list(organization=organization),
        "invitations": selectors.invitation_list_pending(organization=organization),
        "roles": Role.choices,
        "form_errors": {},
        **extra,
    }
    return dashboard_render(request, "organizations/members.html", context, status=status)


@dashboard_view
def members_page(request, tenancy):
    if request.method == "GET":
        return _members(request, tenancy)
    tenancy.require(Role.ADMIN)
    try:
        data = parse_form(
            InvitationCreateInputSerializer,
            {
                "email": request.POST.get("email", "").strip(),
                "role": request.POST.get("role", Role.MEMBER),
            },
        )
        invitation, _ = services.invitation_create(
            organization=tenancy.organization,
            actor=tenancy.user,
            actor_role=tenancy.role,
            email=data["email"],
            role=data["role"],
        )
    except PixellError as exc:
        return _members(
            request,
            tenancy,
            status=exc.status_code,
            form_errors={"invite": form_error(exc)},
            form=request.POST,
        )
    messages.success(
        request,
        f"Invitation sent to {invitation.email} as {invitation.role}; the link works for 7 days.",
    )
    return redirect("dashboard-members")


@dashboard_view(role=Role.ADMIN, methods=["POST"])
def member_role_change(request, tenancy, user_id):
    membership = selectors.membership_get(organization=tenancy.organization, user_id=user_id)
    try:
        data = parse_form(MemberUpdateInputSerializer, {"role": request.POST.get("role", "")})
        membership = services.member_role_change(
            organization=tenancy.organization,
            actor=tenancy.user,
            actor_role=tenancy.role,
            membership=membership,
            role=data["role"],
        )
    except PixellError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{membership.user.email} is now {membership.role}.")
    return redirect("dashboard-members")


@dashboard_view(methods=["POST"])
def member_remove(request, tenancy, user_id):
    # Members may remove themselves (leave); the service refuses everything else they try.
    membership = selectors.membership_get(organization=tenancy.organization, user_id=user_id)
    leaving = membership.user_id == tenancy.user.pk
    try:
        services.member_remove(
            organization=tenancy.organization,
            actor=tenancy.user,
            actor_role=tenancy.role,
            membership=membership,
        )
    except PixellError as exc:
        messages.error(request, exc.message)
        return redirect("dashboard-members")
    if leaving:
        messages.success(request, f"You left {tenancy.organization.name}.")
        return redirect("dashboard")
    messages.success(request, f"{membership.user.email} was removed from the organization.")
    return redirect("dashboard-members")


@dashboard_view(role=Role.ADMIN, methods=["POST"])
def invitation_revoke(request, tenancy, invitation_id):
    invitation = selectors.invitation_get(
        organization=tenancy.organization, invitation_id=invitation_id
    )
    try:
        services.invitation_revoke(invitation=invitation, actor=tenancy.user)
    except PixellError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"Invitation of {invitation.email} revoked; its link no longer works."
        )
    return redirect("dashboard-members")
