from django.urls import path

from deployments import views

# Dashboard pages (docs/DECISIONS.md "Dashboard").
urlpatterns = [
    path("dashboard/deployments/", views.deployments_page, name="dashboard-deployments"),
    path(
        "dashboard/deployments/<uuid:deployment_id>/",
        views.deployment_page,
        name="dashboard-deployment",
    ),
    path(
        "dashboard/deployments/<uuid:deployment_id>/cancel/",
        views.deployment_cancel,
        name="dashboard-deployment-cancel",
    ),
]
