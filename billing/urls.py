from django.urls import path

from billing import views

app_name = "billing"

urlpatterns = [
    path(
        "billing/sandbox-checkout/<str:session_id>/",
        views.sandbox_checkout_page,
        name="sandbox-checkout",
    ),
    path("billing/checkout/success/", views.checkout_success_page, name="checkout-success"),
    path("billing/checkout/cancelled/", views.checkout_cancelled_page, name="checkout-cancelled"),
    path("dashboard/credits/", views.credits_page, name="dashboard-credits"),
]
