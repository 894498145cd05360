"""Dashboard pages of billing: credits (balance, history, top-up), the sandbox checkout page and
where Stripe Checkout returns to. Thin: the top-up is the API's service, fulfilment the webhook's."""

from django.conf import settings
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from billing import selectors, services
from organizations.models import Role
from pixell.api.pagination import paginate
from pixell.api.tenancy import dashboard_user
from pixell.api.viewsets import dashboard_render, dashboard_view, form_error
from pixell.errors import PixellError

HISTORY_PAGE = 25


@never_cache
@require_http_methods(["GET", "POST"])
def sandbox_checkout_page(request, session_id: str):
    """A stand-in for Stripe Checkout in sandbox mode. "Pay" runs the webhook's fulfilment."""
    user = dashboard_user(request)
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
                return HttpResponseRedirect(
                    reverse("billing:checkout-success")
                    + "?"
                    + urlencode({"session_id": checkout.session_id})
                )
            if request.POST.get("action") == "cancel":
                services.sandbox_checkout_cancel(checkout=checkout)
                return HttpResponseRedirect(reverse("billing:checkout-cancelled"))
            context["error"] = "Unknown action."
        except PixellError as exc:
            context["error"] = exc.message
        checkout.refresh_from_db()
        return render(
            request,
            "billing/sandbox_checkout.html",
            context,
            status=400 if context["error"] else 200,
        )
    return render(request, "billing/sandbox_checkout.html", context)


@never_cache
def checkout_success_page(request):
    return render(
        request,
        "billing/checkout_result.html",
        {"paid": True, "session_id": request.GET.get("session_id", "")[:255]},
    )


@never_cache
def checkout_cancelled_page(request):
    return render(request, "billing/checkout_result.html", {"paid": False})


def _packages() -> list[dict]:
    currency = settings.PIXELL_CREDIT_CURRENCY.upper()
    return [
        {
            "name": name,
            "credits": spec["credits"],
            "price": f"{spec['price_cents'] / 100:,.2f} {currency}",
        }
        for name, spec in settings.PIXELL_CREDIT_PACKAGES.items()
    ]


@dashboard_view
def credits_page(request, tenancy):
    organization = tenancy.organization
    form_errors, status = {}, 200
    if request.method == "POST":
        tenancy.require(Role.ADMIN)  # top-ups need admin (docs/CONTRACT.md §3)
        try:
            # The service refuses a package that is not configured (the API's own rule).
            started = services.checkout_session_create(
                organization=organization,
                actor=tenancy.user,
                package=request.POST.get("package", ""),
            )
        except PixellError as exc:
            form_errors["topup"], status = form_error(exc), exc.status_code
        else:
            # Stripe's hosted checkout, or the local sandbox page; both come back to the
            # checkout result page, and the webhook (or the sandbox's Pay) credits the balance.
            return HttpResponseRedirect(started.url)
    rows, next_cursor = paginate(
        selectors.credit_transactions_queryset(organization=organization),
        cursor=request.GET.get("cursor"),
        limit=HISTORY_PAGE,
    )
    context = {
        "balance": selectors.credits_balance_summary(organization=organization),
        "transactions": rows,
        "next_cursor": next_cursor,
        "first_page": not request.GET.get("cursor"),
        "packages": _packages(),
        "sandbox": not settings.STRIPE_SECRET_KEY and settings.PIXELL_BILLING_SANDBOX,
        "form_errors": form_errors,
    }
    return dashboard_render(request, "billing/credits.html", context, status=status)
