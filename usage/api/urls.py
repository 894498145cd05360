from django.urls import path

from usage.api import views

urlpatterns = [
    path("usage/metrics", views.UsageMetricsView.as_view(), name="usage-metrics"),
    path("usage/chart", views.UsageChartView.as_view(), name="usage-chart"),
    path("usage/activity", views.UsageActivityView.as_view(), name="usage-activity"),
    path("usage/export", views.UsageExportView.as_view(), name="usage-export"),
]
