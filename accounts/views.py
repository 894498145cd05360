"""Dashboard pages the emailed links open. They call the same services as the API."""

from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from accounts import services, tokens
from pixell.api.exceptions import ValidationError


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
                context["errors"] = [m for messages in (exc.details or {}).values() for m in messages] or [exc.message]
            else:
                context["done"] = True
        return render(request, "accounts/reset_password.html", context, status=200 if context["done"] else 400)
    return render(request, "accounts/reset_password.html", context)
