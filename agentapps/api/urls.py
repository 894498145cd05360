from django.urls import path

from agentapps.api import views

urlpatterns = [
    path("agent-apps", views.AgentAppListView.as_view(), name="agentapps-list"),
    path("agent-apps/<uuid:app_id>", views.AgentAppDetailView.as_view(), name="agentapps-detail"),
    path(
        "agent-apps/<uuid:app_id>/packages",
        views.PackageListView.as_view(),
        name="agentapps-packages",
    ),
    # "packages/deploy" is no UUID, so it falls through to deployments.api.urls (included after
    # this module).
    path(
        "agent-apps/<uuid:app_id>/packages/<uuid:package_id>",
        views.PackageDetailView.as_view(),
        name="agentapps-package-detail",
    ),
    path(
        "agent-apps/<uuid:app_id>/secrets", views.AppSecretsView.as_view(), name="agentapps-secrets"
    ),
    path(
        "agent-apps/<uuid:app_id>/secrets/<str:key>",
        views.AppSecretDetailView.as_view(),
        name="agentapps-secret-detail",
    ),
    path(
        "packages/<uuid:package_id>/download",
        views.PackageDownloadView.as_view(),
        name="agentapps-package-download",
    ),
    path("signing-keys", views.SigningKeyListView.as_view(), name="agentapps-signing-keys"),
    path(
        "signing-keys/<uuid:key_id>",
        views.SigningKeyDetailView.as_view(),
        name="agentapps-signing-key-detail",
    ),
]
