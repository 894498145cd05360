from django.urls import path

from organizations.api import views

urlpatterns = [
    path("organizations", views.OrganizationListView.as_view(), name="organization-list"),
    path(
        "organizations/current",
        views.OrganizationCurrentView.as_view(),
        name="organization-current",
    ),
    path(
        "organizations/switch", views.OrganizationSwitchView.as_view(), name="organization-switch"
    ),
    path("organizations/members", views.MemberListView.as_view(), name="member-list"),
    path(
        "organizations/members/<uuid:user_id>",
        views.MemberDetailView.as_view(),
        name="member-detail",
    ),
    path("organizations/invitations", views.InvitationListView.as_view(), name="invitation-list"),
    path(
        "organizations/invitations/<uuid:invitation_id>",
        views.InvitationDetailView.as_view(),
        name="invitation-detail",
    ),
    path("invitations/accept", views.InvitationAcceptView.as_view(), name="invitation-accept"),
    path("api-keys", views.ApiKeyListView.as_view(), name="api-key-list"),
    path("api-keys/<uuid:key_id>", views.ApiKeyDetailView.as_view(), name="api-key-detail"),
    path("api-keys/<uuid:key_id>/rotate", views.ApiKeyRotateView.as_view(), name="api-key-rotate"),
]
