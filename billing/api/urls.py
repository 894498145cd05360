from django.urls import path

from billing.api import views

urlpatterns = [
    path("credits/balance", views.CreditBalanceView.as_view(), name="credits-balance"),
    path("credits/history", views.CreditHistoryView.as_view(), name="credits-history"),
    path("credits/topup", views.CreditTopupView.as_view(), name="credits-topup"),
    path("stripe/webhook", views.StripeWebhookView.as_view(), name="stripe-webhook"),
    path("runtime/invocations", views.RuntimeInvocationsView.as_view(), name="runtime-invocations"),
]
