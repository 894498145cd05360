from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    name = "deployments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from agentapps.signals import agent_app_deleting
        from deployments import receivers

        agent_app_deleting.connect(
            receivers.cancel_app_deployments, dispatch_uid="deployments.app-deleting"
        )

        from deployments.metrics import deployments_queue_metrics
        from pixell.observability.metrics import register_scrape_collector

        register_scrape_collector(deployments_queue_metrics)

        # rotate_secrets_key and /api/health reach the encrypted columns through pixell.crypto.
        from deployments import crypto
        from deployments.models import Deployment, Webhook
        from pixell.crypto import encrypted_column_register

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
