from django.urls import path

from organizations import views

urlpatterns = [
    path("invitations/<str:token>/", views.invitation_page, name="invitation-page"),
]
