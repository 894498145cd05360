from django.apps import AppConfig

from organizations.signals import organization_activity, organization_deleting


class UsageConfig(AppConfig):
    name = "usage"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Imported here, not at the top: apps.py is loaded while the app registry fills, before
        # models can be imported (Django's place for modules that use them is ready()).
        from pixell.api.middleware import ApiCallCounting, api_call_counting_register
        from usage import receivers
        from usage.services import api_call_count, api_call_counted, api_call_counter

        organization_activity.connect(
            receivers.record_organization_activity, dispatch_uid="usage.activity"
        )
        organization_deleting.connect(
            receivers.delete_organization_exports, dispatch_uid="usage.exports"
        )
        # Usage owns API-call counting; the API middleware (a lower layer) only calls what is
        # registered here, inside its one cache round trip per request.
        api_call_counting_register(
            ApiCallCounting(
                counter=api_call_counter, counted=api_call_counted, count=api_call_count
            )
        )
