from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from billing import receivers
        from organizations.signals import organization_created

        organization_created.connect(receivers.grant_signup_credits, dispatch_uid="billing.signup")
