"""The operator admin of agent apps: every page renders; secrets are never shown; deletions go
through the services."""

from __future__ import annotations

import pytest
from django.test import Client

from agentapps import services
from agentapps.models import AgentApp, AppSecret, Package
from tests.agentapps.packages import apkg_bytes, ed25519_keypair, upload
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client():
    client = Client()
    client.force_login(UserFactory(email="ops@example.com", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def populated(app, org, owner):
    package = services.package_upload(
        organization=org,
        agent_app=app,
        actor=owner,
        upload=upload(
            apkg_bytes(
                "1.0.0", env="AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
            )
        ),
    )
    services.app_secrets_replace(agent_app=app, secrets={"OPENAI_API_KEY": "sk-do-not-show-me"})
    services.signing_key_create(
        organization=org, actor=owner, name="release", public_key=ed25519_keypair()[1]
    )
    return package


def test_every_page_renders(staff_client, populated, app):
    secret = AppSecret.all_orgs.get()
    pages = [
        "/admin/agentapps/agentapp/",
        f"/admin/agentapps/agentapp/{app.id}/change/",
        "/admin/agentapps/package/",
        f"/admin/agentapps/package/{populated.id}/change/",
        "/admin/agentapps/signingkey/",
        "/admin/agentapps/appsecret/",
        f"/admin/agentapps/appsecret/{secret.id}/change/",
    ]
    for page in pages:
        assert staff_client.get(page).status_code == 200, page


def test_secret_values_are_never_shown(staff_client, populated, app):
    secret = AppSecret.all_orgs.get()
    for page in (
        "/admin/agentapps/appsecret/",
        f"/admin/agentapps/appsecret/{secret.id}/change/",
        f"/admin/agentapps/agentapp/{app.id}/change/",
    ):
        html = staff_client.get(page).content.decode()
        assert "OPENAI_API_KEY" in html
        assert "sk-do-not-show-me" not in html
        assert secret.value_encrypted not in html
        assert "••••••••" in html


def test_package_page_shows_manifest_warnings_and_download_link(staff_client, populated):
    html = staff_client.get(f"/admin/agentapps/package/{populated.id}/change/").content.decode()
    assert f"/api/packages/{populated.id}/download?expires=" in html
    assert "&quot;display_name&quot;: &quot;My Agent&quot;" in html
    assert populated.warnings and populated.warnings[0].split(":")[0] in html


def test_admin_deletes_apps_and_packages_through_the_services(
    staff_client, populated, app, local_storage, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            "/admin/agentapps/package/",
            {"action": "soft_delete", "_selected_action": [str(populated.id)]},
        )
    assert response.status_code == 302
    assert Package.all_orgs.get().deleted_at is not None
    assert not any(local_storage.rglob("*.apkg"))

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"/admin/agentapps/agentapp/{app.id}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not AgentApp.all_orgs.exists()
