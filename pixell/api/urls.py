from django.urls import path

from pixell.api.health import HealthView

urlpatterns = [
    path("health", HealthView.as_view(), name="health"),
]
