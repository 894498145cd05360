"""Dashboard pages of billing: the sandbox checkout page and where Stripe Checkout returns to."""

from django.conf import settings
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from billing import services
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
@require_http_methods(["GET", "POST"])
def sandbox_checkout_page(request, session_id: str):
    """A stand-in for Stripe Checkout in sandbox mode. "Pay" runs the webhook's fulfilment."""
    user = _signed_in_user(request)
    if user is None:
        return HttpResponseRedirect(f"{settings.LOGIN_URL}?{urlencode({'next': request.path})}")
    try:
        checkout = services.sandbox_checkout_get(session_id=session_id, user=user)
    except PixellError:
        return render(request, "billing/sandbox_checkout.html", {"checkout": None}, status=404)
    context = {"checkout": checkout, "error": None, "sandbox": settings.PIXELL_BILLING_SANDBOX}
    if request.method == "POST":
        # Django's CSRF middleware has checked the form's token before we get here.
        try:
            if request.POST.get("action") == "pay":
                services.sandbox_checkout_pay(checkout=checkout, user=user)
                return HttpResponseRedirect(reverse("billing:checkout-success") + "?" + urlencode({"session_id": checkout.session_id}))
            if request.POST.get("action") == "cancel":
                services.sandbox_checkout_cancel(checkout=checkout)
                return HttpResponseRedirect(reverse("billing:checkout-cancelled"))
            context["error"] = "Unknown action."
        except PixellError as exc:
            context["error"] = exc.message
        checkout.refresh_from_db()
        return render(request, "billing/sandbox_checkout.html", context, status=400 if context["error"] else 200)
    return render(request, "billing/sandbox_checkout.html", context)


@never_cache
def checkout_success_page(request):
    return render(request, "billing/checkout_result.html", {"paid": True, "session_id": request.GET.get("session_id", "")[:255]})


@never_cache
def checkout_cancelled_page(request):
    return render(request, "billing/checkout_result.html", {"paid": False})
