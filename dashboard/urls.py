from django.urls import path

from dashboard import app_pages, views

# Dashboard pages (docs/DECISIONS.md "Dashboard"): GET pages, and one POST URL per action.
urlpatterns = [
    path("dashboard/", views.overview_page, name="dashboard"),
    path("dashboard/settings/", views.settings_page, name="dashboard-settings"),
    path(
        "dashboard/settings/signing-keys/",
        views.signing_key_create,
        name="dashboard-signing-key-create",
    ),
    path(
        "dashboard/settings/signing-keys/<uuid:key_id>/delete/",
        views.signing_key_delete,
        name="dashboard-signing-key-delete",
    ),
    path(
        "dashboard/settings/delete/",
        views.organization_delete,
        name="dashboard-organization-delete",
    ),
    path("dashboard/apps/", app_pages.apps_page, name="dashboard-apps"),
    path("dashboard/apps/<uuid:app_id>/", app_pages.app_detail_page, name="dashboard-app"),
    path("dashboard/apps/<uuid:app_id>/delete/", app_pages.app_delete, name="dashboard-app-delete"),
    path(
        "dashboard/apps/<uuid:app_id>/packages/",
        app_pages.package_upload,
        name="dashboard-app-upload",
    ),
    path(
        "dashboard/apps/<uuid:app_id>/packages/<uuid:package_id>/delete/",
        app_pages.package_delete,
        name="dashboard-package-delete",
    ),
    path("dashboard/apps/<uuid:app_id>/deploy/", app_pages.app_deploy, name="dashboard-app-deploy"),
    path(
        "dashboard/apps/<uuid:app_id>/secrets/", app_pages.secret_set, name="dashboard-secret-set"
    ),
    path(
        "dashboard/apps/<uuid:app_id>/secrets/<str:key>/delete/",
        app_pages.secret_delete,
        name="dashboard-secret-delete",
    ),
    path(
        "dashboard/apps/<uuid:app_id>/webhooks/",
        app_pages.webhook_create,
        name="dashboard-webhook-create",
    ),
    path(
        "dashboard/apps/<uuid:app_id>/webhooks/<uuid:webhook_id>/delete/",
        app_pages.webhook_delete,
        name="dashboard-webhook-delete",
    ),
]
