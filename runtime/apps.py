from django.apps import AppConfig


class RuntimeAppConfig(AppConfig):
    name = "runtime"
    label = "runtime"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from runtime import receivers  # noqa: F401  (connects to the app-deletion announcement)
