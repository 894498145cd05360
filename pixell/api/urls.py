from django.urls import path

from pixell.api.health import HealthView
from pixell.api.probes import LiveView, ReadyView

urlpatterns = [
    path("health", HealthView.as_view(), name="health"),
    path("health/live", LiveView.as_view(), name="health-live"),
    path("health/ready", ReadyView.as_view(), name="health-ready"),
]
