from django.apps import AppConfig


class AgentappsConfig(AppConfig):
    name = "agentapps"
    verbose_name = "Agent apps"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from agentapps import receivers
        from organizations.signals import organization_deleting

        organization_deleting.connect(
            receivers.delete_organization_packages, dispatch_uid="agentapps.packages"
        )
        from pixell.api.ratelimit import exemption_register

        exemption_register(signed_download_request)

        # rotate_secrets_key and /api/health reach the encrypted column through pixell.crypto.
        from agentapps.crypto import SECRETS_PURPOSE
        from agentapps.models import AppSecret
        from pixell.crypto import encrypted_column_register

        encrypted_column_register(
            label="app secrets",
            manager=lambda: AppSecret.all_orgs,
            field="value_encrypted",
            purpose=SECRETS_PURPOSE,
        )


def signed_download_request(request) -> bool:
    """A GET of a package download link with a valid signature: it carries its own authorization
    (expiring HMAC), so the anonymous rate limit does not apply (a runtime fetching packages from a
    development server must not be throttled)."""
    if request.method not in ("GET", "HEAD") or not request.path.endswith("/download"):
        return False
    from django.urls import Resolver404, resolve

    try:
        match = resolve(request.path)
    except Resolver404:
        return False
    if match.url_name != "agentapps-package-download":
        return False
    from agentapps.storage import download_signature_valid

    return download_signature_valid(
        match.kwargs.get("package_id"), request.GET.get("expires"), request.GET.get("sig")
    )
