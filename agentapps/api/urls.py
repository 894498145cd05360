from django.urls import path

from agentapps.api import views

urlpatterns = [
    path("agent-apps", views.AgentAppListView.as_view(), name="agentapps-list"),
    path("agent-apps/<str:app_id>", views.AgentAppDetailView.as_view(), name="agentapps-detail"),
    path(
        "agent-apps/<str:app_id>/packages",
        views.PackageListView.as_view(),
        name="agentapps-packages",
    ),
    # <uuid:…> rather than <str:…>: "packages/deploy" belongs to deployments.api.urls (included
    # after this module), and a non-UUID package id is a 404 either way.
    path(
        "agent-apps/<str:app_id>/packages/<uuid:package_id>",
        views.PackageDetailView.as_view(),
        name="agentapps-package-detail",
    ),
    path(
        "agent-apps/<str:app_id>/secrets", views.AppSecretsView.as_view(), name="agentapps-secrets"
    ),
    path(
        "agent-apps/<str:app_id>/secrets/<str:key>",
        views.AppSecretDetailView.as_view(),
        name="agentapps-secret-detail",
    ),
    path(
        "packages/<str:package_id>/download",
        views.PackageDownloadView.as_view(),
        name="agentapps-package-download",
    ),
    path("signing-keys", views.SigningKeyListView.as_view(), name="agentapps-signing-keys"),
    path(
        "signing-keys/<str:key_id>",
        views.SigningKeyDetailView.as_view(),
        name="agentapps-signing-key-detail",
    ),
]
