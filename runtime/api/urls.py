from django.urls import path

from runtime.api import views

urlpatterns = [
    path("agent-apps/<uuid:app_id>/invoke", views.AppInvokeView.as_view(), name="agentapps-invoke"),
    path(
        "agent-apps/<uuid:app_id>/runtime", views.AppRuntimeView.as_view(), name="agentapps-runtime"
    ),
]
