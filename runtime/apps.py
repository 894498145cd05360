from django.apps import AppConfig


class RuntimeAppConfig(AppConfig):
    name = "runtime"
    label = "runtime"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here, not at the top: apps.py is loaded while the app registry fills, before
        # models can be imported. Importing connects it to the app-deletion announcement.
        from runtime import receivers  # noqa: F401
