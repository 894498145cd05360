from django.apps import AppConfig


class AgentappsConfig(AppConfig):
    name = "agentapps"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from agentapps import receivers
        from organizations.signals import organization_deleting

        organization_deleting.connect(
            receivers.delete_organization_packages, dispatch_uid="agentapps.packages"
        )
