from django.urls import path

from runtime import views

urlpatterns = [
    path("dashboard/apps/<uuid:app_id>/try/", views.app_try, name="dashboard-app-try"),
]
