from django.apps import AppConfig


class AgentappsConfig(AppConfig):
    name = "agentapps"
    default_auto_field = "django.db.models.BigAutoField"
