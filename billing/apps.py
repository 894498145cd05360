from django.apps import AppConfig

from organizations.signals import organization_created


class BillingConfig(AppConfig):
    name = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Imported here, not at the top: apps.py is loaded while the app registry fills, before
        # models can be imported (Django's place for modules that use them is ready()).
        from billing import receivers

        organization_created.connect(receivers.grant_signup_credits, dispatch_uid="billing.signup")
