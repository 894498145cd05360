from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "usage"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Usage owns API-call counting; the API middleware (a lower layer) only calls what is
        # registered here, inside its one cache round trip per request.
        from pixell.api.middleware import ApiCallCounting, api_call_counting_register
        from usage.services import api_call_count, api_call_counted, api_call_counter

        api_call_counting_register(
            ApiCallCounting(
                counter=api_call_counter, counted=api_call_counted, count=api_call_count
            )
        )
