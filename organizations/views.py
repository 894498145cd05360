"""The invitation page an emailed link opens: shows the invitation, lets the invited user accept."""

from django.conf import settings
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache

from organizations import selectors, services
from pixell.api.authentication import identify
from pixell.api.exceptions import AuthenticationFailed, PixellError


def _signed_in_user(request):
    # The dashboard's Django session or the API's auth cookie: either proves who is here.
    try:
        identity = identify(request)
    except AuthenticationFailed:
        return None
    return identity.user if identity is not None else None


@never_cache
def invitation_page(request, token: str):
    invitation = selectors.invitation_get_by_token(token=token)
    user = _signed_in_user(request)
    context = {
        "invitation": invitation,
        "user_email": user.email if user is not None else None,
        "login_url": f"{settings.LOGIN_URL}?{urlencode({'next': request.path})}",
        "accepted": False,
        "error": None,
    }
    if invitation is None:
        return render(request, "organizations/invitation.html", context, status=404)
    if invitation.accepted_at is not None or invitation.revoked_at is not None or invitation.expires_at <= timezone.now():
        context["error"] = "This invitation is no longer valid (expired, revoked or already used)."
        return render(request, "organizations/invitation.html", context, status=400)
    if request.method == "POST" and user is not None:
        # Django's CSRF middleware has checked the form's token: a foreign page cannot make a
        # signed-in visitor join an organization.
        try:
            services.invitation_accept(token=token, user=user)
        except PixellError as exc:
            context["error"] = (exc.details or {}).get("token", [exc.message])[0] if isinstance(exc.details, dict) else exc.message
            return render(request, "organizations/invitation.html", context, status=exc.status_code)
        context["accepted"] = True
    elif user is not None and invitation.email.lower() != user.email.lower():
        context["error"] = f"This invitation was sent to {invitation.email}; you are signed in as {user.email}."
    return render(request, "organizations/invitation.html", context)
