from django.urls import path

from accounts import views

urlpatterns = [
    path("verify-email/<str:key>/", views.verify_email_page, name="verify-email-page"),
    path("reset-password/<str:uid>/<str:token>/", views.reset_password_page, name="reset-password-page"),
]
