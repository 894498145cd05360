"""Dashboard pages of accounts: sign-in, sign-up, sign-out, and the pages the emailed links open.
They call the same services as the API."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from accounts import services, tokens
from accounts.api.serializers import (
    EmailInputSerializer,
    LoginInputSerializer,
    SignupInputSerializer,
)
from accounts.api.views import _clear_auth_cookies
from accounts.errors import EmailNotVerified
from pixell.api import ratelimit
from pixell.api.authentication import identify
from pixell.api.client import client_address
from pixell.api.tenancy import dashboard_user
from pixell.api.viewsets import form_error, parse_form
from pixell.errors import AuthenticationFailed, PixellError, RateLimited, ValidationError


@never_cache
def verify_email_page(request, key: str):
    # GET verifies: the link is the proof, and verifying twice is harmless (idempotent).
    try:
        user = services.email_verify(key=key)
    except ValidationError:
        return render(request, "accounts/verify_email.html", {"verified": False}, status=400)
    return render(request, "accounts/verify_email.html", {"verified": True, "user": user})


@never_cache
@sensitive_post_parameters("new_password", "new_password_again")
def reset_password_page(request, uid: str, token: str):
    valid = tokens.password_reset_user_read(uid=uid, token=token) is not None
    context = {"valid_link": valid, "errors": [], "done": False}
    if not valid:
        return render(request, "accounts/reset_password.html", context, status=400)
    if request.method == "POST":
        password = request.POST.get("new_password", "")
        if password != request.POST.get("new_password_again", ""):
            context["errors"] = ["The two passwords differ."]
        else:
            try:
                services.password_reset_confirm(uid=uid, token=token, new_password=password)
            except ValidationError as exc:
                context["errors"] = [
                    m for messages in (exc.details or {}).values() for m in messages
                ] or [exc.message]
            else:
                context["done"] = True
        return render(
            request, "accounts/reset_password.html", context, status=200 if context["done"] else 400
        )
    return render(request, "accounts/reset_password.html", context)


# --- dashboard sign-in, sign-up, sign-out ----------------------------------------------------------
# The same services as the API (docs/CONTRACT.md §2): the login throttle, email verification and password
# reset behave identically whichever door is used.


def _next_url(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    # Only our own pages: an open redirect after sign-in is a phishing aid.
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return settings.LOGIN_REDIRECT_URL


def _anonymous_rate_limited(request) -> RateLimited | None:
    """Anonymous form posts share the API's per-address bucket, so the pages are no way around it."""
    result = ratelimit.hit(request, None)
    if not result["limited"]:
        return None
    return RateLimited(
        "Too many requests from your address; retry later",
        headers={"Retry-After": str(result["retry_after"])},
    )


def _page(request, template: str, context: dict, error: PixellError | None = None):
    status = 200
    if error is not None:
        context["errors"] = form_error(error)
        status = error.status_code
    response = render(request, template, context, status=status)
    for name, value in (error.headers if error is not None else {}).items():
        response[name] = value
    return response


@never_cache
@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def login_page(request):
    next_url = _next_url(request)
    if request.method == "GET" and dashboard_user(request) is not None:
        return HttpResponseRedirect(next_url)
    context = {
        "next": next_url,
        "email": request.POST.get("email", "").strip(),
        "unverified": False,
        "remember": bool(request.POST.get("remember")),
    }
    if request.method == "GET":
        return _page(request, "accounts/login.html", context)
    limited = _anonymous_rate_limited(request)
    if limited is not None:
        return _page(request, "accounts/login.html", context, limited)
    try:
        data = parse_form(
            LoginInputSerializer,
            {
                "email": context["email"],
                "password": request.POST.get("password", ""),
                "rememberMe": "true" if context["remember"] else "false",
            },
        )
        user = services.user_login(
            email=data["email"], password=data["password"], address=client_address(request)
        )
    except EmailNotVerified as exc:
        context["unverified"] = True
        return _page(request, "accounts/login.html", context, exc)
    except RateLimited as exc:
        retry_after = exc.headers.get("Retry-After")
        error = RateLimited(
            f"{exc.message} (in {retry_after} seconds)" if retry_after else exc.message,
            headers=exc.headers,
        )
        return _page(request, "accounts/login.html", context, error)
    except PixellError as exc:
        return _page(request, "accounts/login.html", context, exc)
    login(request, user)  # a new session key: no fixation
    # Like the API's rememberMe: a browser-session cookie, or one that lasts 30 days.
    request.session.set_expiry(settings.REMEMBER_ME_SECONDS if data["rememberMe"] else 0)
    return HttpResponseRedirect(next_url)


@never_cache
@require_POST
def logout_page(request):
    """Signs out of the dashboard session and of an API cookie session in the same browser (the
    dashboard accepts both, so leaving either alive would keep the visitor signed in)."""
    try:
        identity = identify(request)
    except AuthenticationFailed:
        identity = None
    if identity is not None and identity.via == "cookie":
        services.session_revoke(user=identity.user, access_token=identity.token)
    elif request.COOKIES.get(settings.AUTH_COOKIE_NAME):
        # An expired access cookie still names the session whose refresh token must end.
        services.session_end_by_stale_access_token(request.COOKIES[settings.AUTH_COOKIE_NAME])
    logout(request)
    response = HttpResponseRedirect(settings.LOGIN_URL)
    _clear_auth_cookies(response)
    return response


@never_cache
@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def signup_page(request):
    context = {
        "email": request.POST.get("email", "").strip(),
        "organization_name": request.POST.get("organizationName", ""),
    }
    if request.method == "GET":
        if dashboard_user(request) is not None:
            return HttpResponseRedirect(settings.LOGIN_REDIRECT_URL)
        return _page(request, "accounts/signup.html", context)
    limited = _anonymous_rate_limited(request)
    if limited is not None:
        return _page(request, "accounts/signup.html", context, limited)
    try:
        data = parse_form(
            SignupInputSerializer,
            {
                "email": context["email"],
                "password": request.POST.get("password", ""),
                "organizationName": context["organization_name"],
            },
        )
        user = services.user_signup(
            email=data["email"],
            password=data["password"],
            organization_name=data.get("organizationName"),
        )
    except PixellError as exc:
        return _page(request, "accounts/signup.html", context, exc)
    if settings.PIXELL_EMAIL_VERIFICATION == "mandatory":
        return _page(request, "accounts/signup_done.html", {"email": user.email})
    # Nothing to wait for: signing in is what the next step would be anyway.
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    if settings.PIXELL_EMAIL_VERIFICATION == "optional":
        messages.info(request, f"Welcome! We sent a verification link to {user.email}.")
    return HttpResponseRedirect(settings.LOGIN_REDIRECT_URL)


def _email_request_page(request, template: str, send) -> HttpResponse:
    """A form asking for an email address, then ``send(email=…)``: the same answer whether or not the
    account exists (no enumeration), behind the API's anonymous rate limit."""
    context = {
        "email": (request.POST.get("email") or request.GET.get("email") or "").strip(),
        "sent": False,
    }
    if request.method == "GET":
        return _page(request, template, context)
    limited = _anonymous_rate_limited(request)
    if limited is not None:
        return _page(request, template, context, limited)
    try:
        data = parse_form(EmailInputSerializer, {"email": context["email"]})
    except PixellError as exc:
        return _page(request, template, context, exc)
    send(email=data["email"])
    context["sent"] = True
    return _page(request, template, context)


@never_cache
@require_http_methods(["GET", "POST"])
def resend_verification_page(request):
    return _email_request_page(
        request, "accounts/resend_verification.html", services.email_verification_resend
    )


@never_cache
@require_http_methods(["GET", "POST"])
def password_reset_page(request):
    return _email_request_page(
        request, "accounts/password_reset.html", services.password_reset_request
    )
