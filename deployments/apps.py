from django.apps import AppConfig

from agentapps.signals import agent_app_deleting
from deployments import crypto
from pixell.crypto import encrypted_column_register
from pixell.observability.metrics import register_scrape_collector


class DeploymentsConfig(AppConfig):
    name = "deployments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Imported here, not at the top: apps.py is loaded while the app registry fills, before
        # models can be imported (Django's place for modules that use them is ready()).
        from deployments import receivers
        from deployments.metrics import deployments_queue_metrics
        from deployments.models import Deployment, Webhook

        agent_app_deleting.connect(
            receivers.cancel_app_deployments, dispatch_uid="deployments.app-deleting"
        )
        register_scrape_collector(deployments_queue_metrics)

        # rotate_secrets_key and /api/health reach the encrypted columns through pixell.crypto.
        encrypted_column_register(
            label="webhook secrets",
            manager=lambda: Webhook.all_orgs,
            field="secret_encrypted",
            purpose=crypto.full_purpose(crypto.WEBHOOK_SECRET_PURPOSE),
        )
        encrypted_column_register(
            label="deploy environments",
            manager=lambda: Deployment.all_orgs,
            field="environment_encrypted",
            purpose=crypto.full_purpose(crypto.ENVIRONMENT_PURPOSE),
        )
