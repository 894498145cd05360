from django.urls import path

from deployments.api import views

urlpatterns = [
    path("agent-apps/<uuid:app_id>/packages/deploy", views.DeployView.as_view(), name="deploy"),
    path(
        "agent-apps/<uuid:app_id>/deployments",
        views.AppDeploymentsView.as_view(),
        name="app-deployments",
    ),
    path("deployments/queue/stats", views.QueueStatsView.as_view(), name="deployments-queue-stats"),
    path(
        "deployments/<uuid:deployment_id>",
        views.DeploymentDetailView.as_view(),
        name="deployment-detail",
    ),
    path(
        "deployments/<uuid:deployment_id>/cancel",
        views.DeploymentCancelView.as_view(),
        name="deployment-cancel",
    ),
    path(
        "cron/process-deployments",
        views.CronProcessDeploymentsView.as_view(),
        name="cron-process-deployments",
    ),
    path("agent-apps/<uuid:app_id>/webhooks", views.WebhookListView.as_view(), name="webhooks"),
    path(
        "agent-apps/<uuid:app_id>/webhooks/<uuid:webhook_id>",
        views.WebhookDetailView.as_view(),
        name="webhook-detail",
    ),
    path(
        "agent-apps/<uuid:app_id>/webhooks/<uuid:webhook_id>/deliveries",
        views.WebhookDeliveriesView.as_view(),
        name="webhook-deliveries",
    ),
    path(
        "agent-apps/<uuid:app_id>/webhooks/<uuid:webhook_id>/deliveries/<uuid:delivery_id>/redeliver",
        views.WebhookRedeliverView.as_view(),
        name="webhook-redeliver",
    ),
    path(
        "agent-apps/<uuid:app_id>/webhooks/<uuid:webhook_id>/ping",
        views.WebhookPingView.as_view(),
        name="webhook-ping",
    ),
]
