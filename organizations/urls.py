from django.urls import path

from organizations import views

urlpatterns = [
    path("invitations/<str:token>/", views.invitation_page, name="invitation-page"),
    # Dashboard pages (docs/DECISIONS.md "Dashboard"): GET pages, and one POST URL per action.
    path("dashboard/switch/", views.switch_organization, name="dashboard-switch"),
    path("dashboard/api-keys/", views.api_keys_page, name="dashboard-api-keys"),
    path(
        "dashboard/api-keys/<uuid:key_id>/rotate/",
        views.api_key_rotate,
        name="dashboard-api-key-rotate",
    ),
    path(
        "dashboard/api-keys/<uuid:key_id>/delete/",
        views.api_key_delete,
        name="dashboard-api-key-delete",
    ),
    path("dashboard/members/", views.members_page, name="dashboard-members"),
    path(
        "dashboard/members/<uuid:user_id>/role/",
        views.member_role_change,
        name="dashboard-member-role",
    ),
    path(
        "dashboard/members/<uuid:user_id>/remove/",
        views.member_remove,
        name="dashboard-member-remove",
    ),
    path(
        "dashboard/invitations/<uuid:invitation_id>/revoke/",
        views.invitation_revoke,
        name="dashboard-invitation-revoke",
    ),
]
