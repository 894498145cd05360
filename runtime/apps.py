from django.apps import AppConfig


class RuntimeAppConfig(AppConfig):
    name = "runtime"
    label = "runtime"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from agentapps.views import APP_PAGE_EXTENSIONS
        from runtime import receivers  # noqa: F401  (connects to the app-deletion announcement)
        from runtime.views import app_page_runtime

        if app_page_runtime not in APP_PAGE_EXTENSIONS:
            APP_PAGE_EXTENSIONS.append(app_page_runtime)
