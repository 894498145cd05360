from django.apps import AppConfig

from agentapps.crypto import SECRETS_PURPOSE
from organizations.signals import organization_deleting
from pixell.api.ratelimit import exemption_register
from pixell.crypto import encrypted_column_register


class AgentappsConfig(AppConfig):
    name = "agentapps"
    verbose_name = "Agent apps"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Imported here, not at the top: apps.py is loaded while the app registry fills, before
        # models can be imported, and these modules use models (Django's place for them is ready()).
        from agentapps import receivers
        from agentapps.models import AppSecret
        from agentapps.storage import signed_download_request

        organization_deleting.connect(
            receivers.delete_organization_packages, dispatch_uid="agentapps.packages"
        )
        exemption_register(signed_download_request)

        # rotate_secrets_key and /api/health reach the encrypted column through pixell.crypto.
        encrypted_column_register(
            label="app secrets",
            manager=lambda: AppSecret.all_orgs,
            field="value_encrypted",
            purpose=SECRETS_PURPOSE,
        )
