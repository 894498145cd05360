from django.urls import path

from usage import views

app_name = "usage"

urlpatterns = [
    path("usage/exports/<str:token>/", views.export_download, name="export-download"),
    path("dashboard/usage/", views.usage_page, name="dashboard-usage"),
]
