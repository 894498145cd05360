from django.urls import path

from accounts import views

urlpatterns = [
    path("login/", views.login_page, name="login"),
    path("logout/", views.logout_page, name="logout"),
    path("signup/", views.signup_page, name="signup"),
    path("password-reset/", views.password_reset_page, name="password-reset"),
    path("resend-verification/", views.resend_verification_page, name="resend-verification"),
    path("verify-email/<str:key>/", views.verify_email_page, name="verify-email-page"),
    path(
        "reset-password/<str:uid>/<str:token>/",
        views.reset_password_page,
        name="reset-password-page",
    ),
]
