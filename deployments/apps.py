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
