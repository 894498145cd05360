"""Dashboard pages of agent apps, their packages, deploys, secrets and webhooks.

The app page shows the app's packages, deployments and webhooks together, so it lives in this
composition package above agentapps and deployments (docs/ARCHITECTURE.md).

Thin: every write is the service the API calls (agentapps.services, deployments.services); reads
are the selectors. The deployment pages are in deployments/views.py.
"""

from functools import wraps

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from agentapps import selectors, services
from agentapps.api.serializers import AppCreateInputSerializer, PackageFormSerializer
from agentapps.errors import AppNotFound, PublicAppReadOnly
from agentapps.uploads import install_package_upload_handlers, raise_if_upload_too_large
from billing.errors import InsufficientCredits
from deployments import selectors as deployment_selectors
from deployments import services as deployment_services
from deployments.api.serializers import DeployInputSerializer, WebhookInputSerializer
from deployments.models import WebhookEvent
from deployments.views import deployment_url
from organizations.models import Role
from pixell.api.viewsets import dashboard_render, dashboard_view, form_error, parse_form
from pixell.errors import PixellError, ValidationError
from runtime.views import app_page_runtime

RECENT_DEPLOYMENTS = 10
PACKAGES_SHOWN = 50


def _bool(request, name: str) -> str:
    # Checkboxes send a value only when ticked; the API's strict boolean fields want "true"/"false".
    return "true" if request.POST.get(name) else "false"


def app_url(app) -> str:
    return reverse("dashboard-app", args=[app.pk])


def _own_app(tenancy, app_id):
    """The organization's own app. A public app of another organization is readable through the
    API, but it is not one of this organization's pages: here it is as absent as a private one."""
    try:
        return selectors.agent_app_get(organization=tenancy.organization, app_id=app_id)
    except PublicAppReadOnly:
        raise AppNotFound() from None


# --- apps -------------------------------------------------------------------------------------------


@dashboard_view
def apps_page(request, tenancy):
    form_errors, status = {}, 200
    if request.method == "POST":
        try:
            data = parse_form(
                AppCreateInputSerializer,
                {
                    "name": request.POST.get("name", ""),
                    "description": request.POST.get("description", ""),
                    "is_public": _bool(request, "is_public"),
                },
            )
            app = services.agent_app_create(
                organization=tenancy.organization, actor=tenancy.user, **data
            )
        except PixellError as exc:
            form_errors["create"], status = form_error(exc), exc.status_code
        else:
            messages.success(
                request, f"Agent app “{app.name}” created. Upload or deploy a package to it."
            )
            return HttpResponseRedirect(app_url(app))
    apps = list(selectors.agent_app_list(organization=tenancy.organization))
    return dashboard_render(
        request,
        "agentapps/apps.html",
        {"apps": apps, "form": request.POST, "form_errors": form_errors},
        status=status,
    )


def _app_detail(request, tenancy, app, *, form_errors=None, status=200, **extra):
    """The app page, also re-rendered by every form on it with that form's errors."""
    organization = tenancy.organization
    packages = list(selectors.agent_app_packages(agent_app=app)[:PACKAGES_SHOWN])
    for package in packages:
        package.download_url = services.package_download_url(package=package, request=request)
    rows, _ = deployment_selectors.deployment_list_for_app(
        organization=organization, agent_app=app, cursor=None, limit=RECENT_DEPLOYMENTS
    )
    positions = deployment_selectors.queue_positions(rows)
    for deployment in rows:
        deployment.queue_position = positions.get(deployment.id)
    is_admin = tenancy.at_least(Role.ADMIN)
    context = {
        "app": app,
        "packages": packages,
        "deployments": rows,
        "webhooks": deployment_selectors.webhook_list_for_app(
            organization=organization, agent_app=app
        ),
        "webhook_events": WebhookEvent.values,
        # Secrets are admin-only (docs/CONTRACT.md §4); their values are never rendered, only their keys.
        "secret_keys": selectors.app_secret_keys(agent_app=app) if is_admin else None,
        "form": request.POST if request.method == "POST" else {},
        "form_errors": form_errors or {},
        **extra,
    }
    # The local runtime's panel (status, output, "Try it").
    context.update(app_page_runtime(request=request, tenancy=tenancy, app=app))
    return dashboard_render(request, "agentapps/app_detail.html", context, status=status)


@dashboard_view(methods=["GET"])
def app_detail_page(request, tenancy, app_id):
    app = _own_app(tenancy, app_id)
    return _app_detail(request, tenancy, app)


@dashboard_view(role=Role.ADMIN, methods=["POST"])
def app_delete(request, tenancy, app_id):
    app = _own_app(tenancy, app_id)
    if request.POST.get("confirm_name", "").strip() != app.name:
        error = ValidationError(
            "Type the app's name to confirm",
            details={"confirm_name": [f"Type “{app.name}” exactly."]},
        )
        return _app_detail(
            request, tenancy, app, form_errors={"delete": form_error(error)}, status=400
        )
    services.agent_app_delete(agent_app=app, actor=tenancy.user)
    messages.success(
        request, f"Agent app “{app.name}” deleted with its packages, secrets and deployments."
    )
    return redirect("dashboard-apps")


# --- packages and deploys (multipart) ------------------------------------------------------------------


def _package_form(func):
    """Package forms read a file of up to 100 MiB through the hashing, size-limiting upload handler.

    CsrfViewMiddleware would parse the body (with Django's default handlers) to find the token, after
    which handlers can no longer be changed; so the outer view is csrf_exempt and the token is
    checked here, after the handler is installed (Django's documented pattern for upload handlers).
    """

    @wraps(func)
    def wrapper(request, tenancy, *args, **kwargs):
        install_package_upload_handlers(request)

        @csrf_protect
        def checked(request):
            return func(request, tenancy, *args, **kwargs)

        return checked(request)

    return wrapper


def _multipart_data(request) -> dict:
    data = {key: request.POST.get(key) for key in request.POST}  # parses the body
    for key in request.FILES:
        data[key] = request.FILES[key]
    raise_if_upload_too_large(request)  # PACKAGE_VALIDATION_FAILED "Package is larger than …"
    return data


@csrf_exempt
@dashboard_view(methods=["POST"])
@_package_form
def package_upload(request, tenancy, app_id):
    app = _own_app(tenancy, app_id)
    try:
        data = _multipart_data(request)
        data["force_overwrite"] = _bool(request, "force_overwrite")
        form = parse_form(PackageFormSerializer, data)
        package = services.package_upload(
            organization=tenancy.organization,
            agent_app=app,
            actor=tenancy.user,
            upload=form["file"],
            form_version=form.get("version") or None,
            signature=form.get("signature"),
            release_notes=form.get("release_notes", ""),
            force_overwrite=form["force_overwrite"],
        )
    except PixellError as exc:
        return _app_detail(
            request, tenancy, app, form_errors={"upload": form_error(exc)}, status=exc.status_code
        )
    messages.success(request, f"Version {package.version} uploaded ({package.size:,} bytes).")
    for warning in package.warnings:
        messages.warning(request, f"Warning for {package.version}: {warning}")
    return HttpResponseRedirect(app_url(app))


@csrf_exempt
@dashboard_view(methods=["POST"])
@_package_form
def app_deploy(request, tenancy, app_id):
    organization = tenancy.organization
    app = _own_app(tenancy, app_id)
    try:
        data = _multipart_data(request)
        data["force_overwrite"] = _bool(request, "force_overwrite")
        data["dry_run"] = "true" if request.POST.get("dry_run") else "false"
        form = parse_form(DeployInputSerializer, data)
        if form["dry_run"]:
            quote = deployment_services.deployment_dry_run(
                organization=organization,
                agent_app=app,
                upload=form["file"],
                version=form.get("version") or None,
                force_overwrite=form["force_overwrite"],
                signature=form.get("signature"),
            )
            return _app_detail(request, tenancy, app, dry_run=quote)
        result = deployment_services.deployment_create(
            organization=organization,
            agent_app=app,
            actor=tenancy.user,
            upload=form["file"],
            version=form.get("version") or None,
            release_notes=form.get("release_notes", ""),
            force_overwrite=form["force_overwrite"],
            environment=form.get("environment") or {},
            signature=form.get("signature"),
        )
    except InsufficientCredits as exc:
        error = InsufficientCredits(
            required=exc.extra["required"],
            available=exc.extra["available"],
            message=f"Not enough credits: this deploy costs {exc.extra['required']:,} and the balance is {exc.extra['available']:,}.",
        )
        return _app_detail(
            request, tenancy, app, form_errors={"deploy": form_error(error)}, status=402
        )
    except PixellError as exc:
        return _app_detail(
            request, tenancy, app, form_errors={"deploy": form_error(exc)}, status=exc.status_code
        )
    deployment = result.deployment
    messages.success(
        request,
        f"Deployment of version {deployment.version} queued; {deployment.cost:,} credits reserved.",
    )
    return HttpResponseRedirect(deployment_url(deployment))


@dashboard_view(role=Role.ADMIN, methods=["POST"])
def package_delete(request, tenancy, app_id, package_id):
    app = _own_app(tenancy, app_id)
    package = selectors.package_get(agent_app=app, package_id=package_id)
    try:
        services.package_delete(package=package, actor=tenancy.user)
    except PixellError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Version {package.version} deleted.")
    return HttpResponseRedirect(app_url(app))


# --- secrets (admins; keys only) ---------------------------------------------------------------------


@dashboard_view(role=Role.ADMIN, methods=["POST"])
def secret_set(request, tenancy, app_id):
    app = _own_app(tenancy, app_id)
    key = request.POST.get("key", "").strip()
    try:
        # The value is opaque: never trimmed (like the API's PUT …/secrets/:key).
        services.app_secret_set(agent_app=app, key=key, value=request.POST.get("value", ""))
    except PixellError as exc:
        return _app_detail(
            request, tenancy, app, form_errors={"secret": form_error(exc)}, status=exc.status_code
        )
    messages.success(
        request, f"Secret {key} saved. It is passed to the runtime on the next deploy."
    )
    return HttpResponseRedirect(app_url(app) + "#secrets")


@dashboard_view(role=Role.ADMIN, methods=["POST"])
def secret_delete(request, tenancy, app_id, key):
    app = _own_app(tenancy, app_id)
    try:
        services.app_secret_delete(agent_app=app, key=key)
    except PixellError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Secret {key} deleted.")
    return HttpResponseRedirect(app_url(app) + "#secrets")


# --- webhooks --------------------------------------------------------------------------------------


@dashboard_view(role=Role.ADMIN, methods=["POST"])
def webhook_create(request, tenancy, app_id):
    organization = tenancy.organization
    app = _own_app(tenancy, app_id)
    try:
        data = {
            "url": request.POST.get("url", "").strip(),
            "events": request.POST.getlist("events"),
        }
        if request.POST.get("secret"):
            data["secret"] = request.POST["secret"]
        form = parse_form(WebhookInputSerializer, data)
        webhook, secret = deployment_services.webhook_create(
            organization=organization,
            agent_app=app,
            url=form["url"],
            events=form["events"],
            secret=form.get("secret"),
            actor=tenancy.user,
        )
    except PixellError as exc:
        return _app_detail(
            request, tenancy, app, form_errors={"webhook": form_error(exc)}, status=exc.status_code
        )
    # Rendered, not redirected: the secret is shown in this response only and never stored in
    # the session (the pages are never cached).
    return _app_detail(request, tenancy, app, new_webhook=webhook, new_webhook_secret=secret)


@dashboard_view(role=Role.ADMIN, methods=["POST"])
def webhook_delete(request, tenancy, app_id, webhook_id):
    organization = tenancy.organization
    app = _own_app(tenancy, app_id)
    webhook = deployment_selectors.webhook_get(
        organization=organization, agent_app=app, webhook_id=webhook_id
    )
    deployment_services.webhook_delete(webhook=webhook)
    messages.success(request, f"Webhook {webhook.url} deleted.")
    return HttpResponseRedirect(app_url(app) + "#webhooks")
