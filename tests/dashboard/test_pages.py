"""Every dashboard page: renders for a member, sends signed-out visitors to /login/, keeps to the
current organization, and offers the organization switcher."""

import pytest
from django.test import Client

from organizations.models import Membership, Role
from organizations.services import organization_create
from tests.dashboard.conftest import session_client
from tests.factories import MembershipFactory, UserFactory

PAGES = [
    "/dashboard/",
    "/dashboard/apps/",
    "/dashboard/deployments/",
    "/dashboard/credits/",
    "/dashboard/usage/",
    "/dashboard/api-keys/",
    "/dashboard/members/",
    "/dashboard/settings/",
]


@pytest.mark.parametrize("path", PAGES)
def test_each_page_renders_for_a_member(member_page, org, path):
    response = member_page.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert org.name in html
    assert 'aria-label="Dashboard"' in html
    assert "no-cache" in response["Cache-Control"] or "no-store" in response["Cache-Control"]


@pytest.mark.parametrize("path", [*PAGES, "/dashboard/apps/00000000-0000-0000-0000-000000000000/"])
def test_signed_out_visitors_are_sent_to_sign_in(anon_page, path, db):
    response = anon_page.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={path}"


def test_app_and_deployment_pages_render_for_a_member(member_page, app, deployment):
    assert member_page.get(f"/dashboard/apps/{app.id}/").status_code == 200
    assert member_page.get(f"/dashboard/deployments/{deployment.id}/").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/apps/{other_app}/",
        "/dashboard/deployments/{other_deployment}/",
        "/dashboard/apps/not-a-uuid/",
        "/dashboard/deployments/not-a-uuid/",
        "/dashboard/apps/00000000-0000-0000-0000-000000000000/",
    ],
)
def test_another_organizations_objects_are_not_found(owner_page, other_app, other_deployment, path):
    response = owner_page.get(
        path.format(other_app=other_app.id, other_deployment=other_deployment.id)
    )
    assert response.status_code == 404
    assert other_app.name not in response.content.decode()


@pytest.mark.parametrize(
    "path", ["/dashboard/apps/not-a-uuid/", "/dashboard/apps/not-a-uuid/webhooks/x/delete/"]
)
def test_a_malformed_id_is_the_dashboards_own_404_page(owner_page, anon_page, org, path):
    # Routes take <uuid:…>, so no page view runs: Django's 404 handler answers as a page would.
    response = owner_page.get(path)
    assert response.status_code == 404
    html = response.content.decode()
    assert 'aria-label="Dashboard"' in html and org.name in html
    assert "Page not found" in html
    signed_out = anon_page.get(path)
    assert signed_out.status_code == 302
    assert signed_out["Location"] == f"/login/?next={path}"


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/apps/{other_app}/delete/",
        "/dashboard/apps/{other_app}/secrets/",
        "/dashboard/apps/{other_app}/webhooks/",
        "/dashboard/deployments/{other_deployment}/cancel/",
    ],
)
def test_actions_on_another_organizations_objects_are_not_found(
    owner_page, other_app, other_deployment, path
):
    response = owner_page.post(
        path.format(other_app=other_app.id, other_deployment=other_deployment.id),
        {"confirm_name": other_app.name},
    )
    assert response.status_code == 404
    other_app.refresh_from_db()  # still there


def test_the_api_auth_cookie_also_signs_in_to_the_dashboard(owner, org):
    client = Client()
    response = client.post(
        "/api/auth/login",
        {"email": owner.email, "password": "correct-horse-battery-staple"},
        content_type="application/json",
    )
    assert response.status_code == 200
    page = client.get("/dashboard/")
    assert page.status_code == 200
    assert org.name in page.content.decode() and "Sign out" in page.content.decode()


def test_a_user_without_organization_gets_an_explanation(db):
    user = UserFactory()
    response = session_client(user).get("/dashboard/apps/")
    assert response.status_code == 200
    assert "You are not in any organization" in response.content.decode()


def test_the_switcher_lists_several_organizations_and_switches(owner, org):
    second = organization_create(name="Second Org", owner=owner)
    client = session_client(owner)
    html = client.get("/dashboard/").content.decode()
    assert 'action="/dashboard/switch/"' in html and "Second Org (owner)" in html

    response = client.post("/dashboard/switch/", {"organization_id": str(second.id)})
    assert response.status_code == 302 and response["Location"] == "/dashboard/"
    html = client.get("/dashboard/").content.decode()
    assert "<h1>Second Org</h1>" in html
    assert Membership.objects.get(user=owner, organization=second).chosen_at is not None


def test_switching_to_an_organization_one_is_not_in_is_not_found(owner, org, other_org):
    response = session_client(owner).post(
        "/dashboard/switch/", {"organization_id": str(other_org.id)}
    )
    assert response.status_code == 404


def test_one_organization_means_no_switcher(member_page):
    assert 'action="/dashboard/switch/"' not in member_page.get("/dashboard/").content.decode()


def test_overview_shows_role_balance_apps_deployments_and_activity(
    owner_page, org, app, deployment
):
    html = owner_page.get("/dashboard/").content.decode()
    org.refresh_from_db()
    assert f'data-testid="credits-balance">{org.credits:,}<' in html
    assert 'class="badge owner">owner<' in html
    assert f"/dashboard/deployments/{deployment.id}/" in html and 'class="badge queued"' in html
    assert "Created agent app" in html  # recent activity


def test_the_member_role_is_shown_to_members(member_page):
    assert 'class="badge member">member<' in member_page.get("/dashboard/").content.decode()


def test_unknown_method_is_refused(member_page):
    assert member_page.put("/dashboard/").status_code == 405


def test_admins_see_the_same_pages(admin_page):
    for path in PAGES:
        assert admin_page.get(path).status_code == 200, path


def test_roles_come_from_the_membership_of_the_current_organization(owner, org, other_org):
    # Owner of one organization, member of another: the member role applies while it is current.
    MembershipFactory(organization=other_org, user=owner, role=Role.MEMBER)
    client = session_client(owner)
    client.post("/dashboard/switch/", {"organization_id": str(other_org.id)})
    assert (
        "Managing API keys needs the <strong>admin</strong> role"
        in client.get("/dashboard/api-keys/").content.decode()
    )
    assert client.post("/dashboard/api-keys/", {"name": "x"}).status_code == 403


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/",
        "/dashboard/apps/",
        "/dashboard/deployments/",
        "/dashboard/members/",
        "/dashboard/credits/",
        "/dashboard/usage/",
    ],
)
def test_list_pages_cost_the_same_queries_however_many_rows(
    owner_page, org, owner, path, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    from agentapps.services import agent_app_create
    from deployments.services import deployment_create
    from tests.agentapps.packages import apkg_bytes, upload

    def add_rows(start):
        for i in range(start, start + 3):
            app = agent_app_create(organization=org, actor=owner, name=f"app-{i}")
            with django_capture_on_commit_callbacks(execute=False):
                deployment_create(
                    organization=org,
                    agent_app=app,
                    actor=owner,
                    upload=upload(apkg_bytes("1.0.0")),
                    version=None,
                )
            MembershipFactory(organization=org, user=UserFactory(), role=Role.MEMBER)

    add_rows(0)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        assert owner_page.get(path).status_code == 200
    add_rows(3)
    with django_assert_max_num_queries(len(few)):
        assert owner_page.get(path).status_code == 200


def test_another_organizations_public_app_is_not_a_page_of_this_one(owner_page, other_app):
    other_app.is_public = True
    other_app.save(update_fields=["is_public"])
    assert owner_page.get(f"/dashboard/apps/{other_app.id}/").status_code == 404
    assert (
        owner_page.post(
            f"/dashboard/apps/{other_app.id}/delete/", {"confirm_name": other_app.name}
        ).status_code
        == 404
    )
    other_app.refresh_from_db()
