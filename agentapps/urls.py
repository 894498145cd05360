from django.urls import path

from agentapps import views

# Dashboard pages (docs/DECISIONS.md "Dashboard"): GET pages, and one POST URL per action.
urlpatterns = [
    path("dashboard/apps/", views.apps_page, name="dashboard-apps"),
    path("dashboard/apps/<str:app_id>/", views.app_detail_page, name="dashboard-app"),
    path("dashboard/apps/<str:app_id>/delete/", views.app_delete, name="dashboard-app-delete"),
    path(
        "dashboard/apps/<str:app_id>/packages/", views.package_upload, name="dashboard-app-upload"
    ),
    path(
        "dashboard/apps/<str:app_id>/packages/<str:package_id>/delete/",
        views.package_delete,
        name="dashboard-package-delete",
    ),
    path("dashboard/apps/<str:app_id>/deploy/", views.app_deploy, name="dashboard-app-deploy"),
    path("dashboard/apps/<str:app_id>/secrets/", views.secret_set, name="dashboard-secret-set"),
    path(
        "dashboard/apps/<str:app_id>/secrets/<str:key>/delete/",
        views.secret_delete,
        name="dashboard-secret-delete",
    ),
    path(
        "dashboard/apps/<str:app_id>/webhooks/",
        views.webhook_create,
        name="dashboard-webhook-create",
    ),
    path(
        "dashboard/apps/<str:app_id>/webhooks/<str:webhook_id>/delete/",
        views.webhook_delete,
        name="dashboard-webhook-delete",
    ),
]
