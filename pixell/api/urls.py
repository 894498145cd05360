from django.urls import path

from pixell.api.health import HealthView
from pixell.api.probes import live_view, ready_view

urlpatterns = [
    path("health", HealthView.as_view(), name="health"),
    path("health/live", live_view, name="health-live"),
    path("health/ready", ready_view, name="health-ready"),
]
