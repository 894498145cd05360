"""Agent-app and deployment pages: forms call the API's services (DB effects asserted), the role
matrix holds (hidden for members and refused on POST), domain errors come back as form errors."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from agentapps.models import AgentApp, AppSecret, Package, PackageStatus
from agentapps.selectors import app_secrets_get
from billing.models import CreditTransaction, TransactionType
from billing.services import credits_apply
from deployments.models import Deployment, DeploymentStatus, Webhook
from tests.agentapps.packages import apkg_bytes
from tests.dashboard.conftest import session_client


def apkg(version: str = "1.0.0", **kwargs) -> SimpleUploadedFile:
    return SimpleUploadedFile(
        "agent.apkg", apkg_bytes(version, **kwargs), content_type="application/octet-stream"
    )


@pytest.fixture(autouse=True)
def _public_dns(monkeypatch):
    # hooks.example.com must resolve to a public address without real DNS (the SSRF guard checks).
    import ipaddress

    from deployments import netguard

    real = netguard._resolve
    monkeypatch.setattr(
        netguard,
        "_resolve",
        lambda host, port: (ipaddress.ip_address("93.184.216.34"),)
        if host.endswith("example.com")
        else real(host, port),
    )


# --- apps -----------------------------------------------------------------------------------------


def test_list_shows_the_organizations_apps_only(member_page, app, other_app):
    html = member_page.get("/dashboard/apps/").content.decode()
    assert app.name in html and other_app.name not in html


def test_a_member_creates_an_app(member_page, org, member_user):
    response = member_page.post(
        "/dashboard/apps/", {"name": "Ticket Triage", "description": "Sorts", "is_public": "1"}
    )
    app = AgentApp.objects.for_org(org).get(name="Ticket Triage")
    assert response.status_code == 302 and response["Location"] == f"/dashboard/apps/{app.id}/"
    assert (app.description, app.is_public, app.created_by) == ("Sorts", True, member_user)


@pytest.mark.parametrize(
    ("name", "status", "text"), [("support-bot", 409, "already exists"), ("", 400, "name")]
)
def test_app_create_errors_are_form_errors(member_page, org, app, name, status, text):
    response = member_page.post("/dashboard/apps/", {"name": name})
    assert response.status_code == status
    assert text in response.content.decode()
    assert AgentApp.objects.for_org(org).count() == 1


def test_app_page_shows_packages_deployments_and_webhooks(owner_page, app, deployment):
    html = owner_page.get(f"/dashboard/apps/{app.id}/").content.decode()
    package = deployment.package
    assert package.sha256 in html and package.version in html
    assert "/api/packages/" in html and "/download?expires=" in html  # the signed download link
    assert f"/dashboard/deployments/{deployment.id}/" in html
    assert f'action="/dashboard/apps/{app.id}/deploy/"' in html


# --- packages ---------------------------------------------------------------------------------------


def test_a_member_uploads_a_package(member_page, org, app):
    response = member_page.post(
        f"/dashboard/apps/{app.id}/packages/", {"file": apkg("2.0.0"), "release_notes": "First"}
    )
    assert response.status_code == 302
    package = Package.objects.for_org(org).get(agent_app=app)
    assert (package.version, package.status, package.release_notes) == (
        "2.0.0",
        PackageStatus.READY,
        "First",
    )
    assert "Version 2.0.0 uploaded" in member_page.get(response["Location"]).content.decode()


def test_an_invalid_package_lists_every_reason(member_page, org, app):
    response = member_page.post(
        f"/dashboard/apps/{app.id}/packages/", {"file": apkg(with_manifest=False)}
    )
    assert response.status_code == 400
    assert "Missing required manifest" in response.content.decode()
    assert not Package.objects.for_org(org).exists()


def test_an_existing_version_is_409_unless_replaced(member_page, org, app):
    member_page.post(f"/dashboard/apps/{app.id}/packages/", {"file": apkg("1.0.0")})
    refused = member_page.post(f"/dashboard/apps/{app.id}/packages/", {"file": apkg("1.0.0")})
    assert refused.status_code == 409 and "already exists" in refused.content.decode()
    replaced = member_page.post(
        f"/dashboard/apps/{app.id}/packages/", {"file": apkg("1.0.0"), "force_overwrite": "1"}
    )
    assert replaced.status_code == 302
    assert Package.objects.for_org(org).filter(agent_app=app, deleted_at__isnull=True).count() == 1


def test_a_package_over_the_size_limit_is_refused_before_storing(member_page, org, app, settings):
    settings.PIXELL_MAX_PACKAGE_BYTES = 1024
    response = member_page.post(f"/dashboard/apps/{app.id}/packages/", {"file": apkg(padding=4096)})
    assert response.status_code == 400 and "larger than the" in response.content.decode()
    assert not Package.objects.for_org(org).exists()


def test_package_forms_check_the_csrf_token(member_user, org, app):
    client = session_client(member_user, enforce_csrf_checks=True)
    assert client.post(f"/dashboard/apps/{app.id}/packages/", {"file": apkg()}).status_code == 403
    assert client.post(f"/dashboard/apps/{app.id}/deploy/", {"file": apkg()}).status_code == 403
    assert not Package.objects.for_org(org).exists()
    # With the token (as the page's form sends it) the upload goes through.
    client.get(f"/dashboard/apps/{app.id}/")
    token = client.cookies["csrftoken"].value
    response = client.post(
        f"/dashboard/apps/{app.id}/packages/", {"file": apkg(), "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302


def test_deleting_a_package_needs_admin(member_page, admin_page, org, app):
    member_page.post(f"/dashboard/apps/{app.id}/packages/", {"file": apkg()})
    package = Package.objects.for_org(org).get()
    assert (
        "/delete/"
        not in member_page.get(f"/dashboard/apps/{app.id}/")
        .content.decode()
        .split('id="packages"')[1]
        .split("</table>")[0]
    )
    assert (
        member_page.post(f"/dashboard/apps/{app.id}/packages/{package.id}/delete/").status_code
        == 403
    )
    assert (
        admin_page.post(f"/dashboard/apps/{app.id}/packages/{package.id}/delete/").status_code
        == 302
    )
    package.refresh_from_db()
    assert package.deleted_at is not None


# --- deploy ---------------------------------------------------------------------------------------------


def test_a_member_deploys_with_release_notes(
    member_page, org, app, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        response = member_page.post(
            f"/dashboard/apps/{app.id}/deploy/",
            {"file": apkg("3.1.0"), "release_notes": "Faster", "environment": '{"MODE": "fast"}'},
        )
    deployment = Deployment.objects.for_org(org).get()
    assert (
        response.status_code == 302
        and response["Location"] == f"/dashboard/deployments/{deployment.id}/"
    )
    assert (deployment.version, deployment.status, deployment.release_notes, deployment.cost) == (
        "3.1.0",
        DeploymentStatus.QUEUED,
        "Faster",
        1,
    )
    # The same reservation as the API's deploy.
    assert (
        CreditTransaction.objects.for_org(org)
        .filter(reference=f"deployment:{deployment.id}:reserve", amount=-1)
        .exists()
    )
    page = member_page.get(response["Location"]).content.decode()
    assert (
        "Deployment of version 3.1.0 queued" in page
        and '<meta http-equiv="refresh" content="3">' in page
    )


def test_deploy_without_credits_is_a_402_with_a_top_up_link(member_page, org, app):
    credits_apply(
        organization=org, amount=-org.credits, type=TransactionType.ADJUSTMENT, description="empty"
    )
    response = member_page.post(f"/dashboard/apps/{app.id}/deploy/", {"file": apkg()})
    html = response.content.decode()
    assert response.status_code == 402
    assert (
        "Not enough credits: this deploy costs 1 and the balance is 0" in html
        and 'href="/dashboard/credits/"' in html
    )
    assert (
        not Deployment.objects.for_org(org).exists() and not Package.objects.for_org(org).exists()
    )


def test_deploy_of_an_existing_version_is_409(member_page, org, app, deployment):
    response = member_page.post(
        f"/dashboard/apps/{app.id}/deploy/", {"file": apkg(deployment.version)}
    )
    assert response.status_code == 409
    assert "Replace the version if it exists" in response.content.decode()
    assert Deployment.objects.for_org(org).count() == 1


def test_deploy_form_validation_errors(member_page, org, app):
    response = member_page.post(
        f"/dashboard/apps/{app.id}/deploy/", {"file": apkg(), "environment": "[1, 2]"}
    )
    assert response.status_code == 400 and "environment" in response.content.decode()
    response = member_page.post(f"/dashboard/apps/{app.id}/deploy/", {"version": "1.0.0"})
    assert response.status_code == 400 and "file" in response.content.decode()
    assert not Deployment.objects.for_org(org).exists()


def test_dry_run_quotes_and_stores_nothing(member_page, org, app):
    balance = org.credits
    response = member_page.post(
        f"/dashboard/apps/{app.id}/deploy/", {"file": apkg(), "dry_run": "1"}
    )
    assert response.status_code == 200
    assert "Valid: this deploy would cost 1 credit" in response.content.decode()
    org.refresh_from_db()
    assert org.credits == balance and not Package.objects.for_org(org).exists()


# --- deployments --------------------------------------------------------------------------------------


def test_deployment_page_shows_steps_and_refreshes_while_queued(member_page, deployment):
    html = member_page.get(f"/dashboard/deployments/{deployment.id}/").content.decode()
    for name in (
        "validate_package",
        "upload_to_s3",
        "generate_metadata",
        "notify_runtime",
        "finalize",
    ):
        assert name in html
    assert '<meta http-equiv="refresh"' in html and "#1 in the queue" in html
    assert f'action="/dashboard/deployments/{deployment.id}/cancel/"' in html


def test_a_finished_deployment_does_not_refresh_or_offer_cancel(
    member_page, deployment, django_capture_on_commit_callbacks
):
    from deployments.queue import deployment_process_next

    deployment_process_next()
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.COMPLETED
    html = member_page.get(f"/dashboard/deployments/{deployment.id}/").content.decode()
    assert '<meta http-equiv="refresh"' not in html and "/cancel/" not in html
    assert 'class="badge completed"' in html


def test_a_member_cancels_a_queued_deployment_and_is_refunded(member_page, org, deployment):
    org.refresh_from_db()
    balance = org.credits
    response = member_page.post(f"/dashboard/deployments/{deployment.id}/cancel/")
    assert response.status_code == 302
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.CANCELLED
    org.refresh_from_db()
    assert org.credits == balance + deployment.cost
    again = member_page.post(f"/dashboard/deployments/{deployment.id}/cancel/", follow=True)
    assert "only a queued deployment can be cancelled" in again.content.decode()


def test_deployments_list_shows_every_app_and_pages(
    member_page, org, app, deployment, settings, django_capture_on_commit_callbacks
):
    from deployments.views import DEPLOYMENTS_PAGE

    html = member_page.get("/dashboard/deployments/").content.decode()
    assert f"/dashboard/deployments/{deployment.id}/" in html and app.name in html
    assert "Older →" not in html
    from deployments.services import deployment_create
    from tests.agentapps.packages import upload

    with django_capture_on_commit_callbacks(execute=False):
        for i in range(DEPLOYMENTS_PAGE):
            deployment_create(
                organization=org,
                agent_app=app,
                actor=None,
                upload=upload(apkg_bytes(f"5.0.{i}")),
                version=None,
            )
    html = member_page.get("/dashboard/deployments/").content.decode()
    assert "Older →" in html and f"/dashboard/deployments/{deployment.id}/" not in html
    cursor = html.split('href="?cursor=')[1].split('"')[0]
    older = member_page.get(f"/dashboard/deployments/?cursor={cursor}").content.decode()
    assert f"/dashboard/deployments/{deployment.id}/" in older


# --- secrets (admin) --------------------------------------------------------------------------------


def test_admins_set_and_delete_secrets_and_never_see_values(admin_page, org, app):
    response = admin_page.post(
        f"/dashboard/apps/{app.id}/secrets/", {"key": "OPENAI_API_KEY", "value": "sk-very-secret"}
    )
    assert response.status_code == 302
    assert app_secrets_get(agent_app=app) == {"OPENAI_API_KEY": "sk-very-secret"}
    html = admin_page.get(f"/dashboard/apps/{app.id}/").content.decode()
    assert "OPENAI_API_KEY" in html and "sk-very-secret" not in html
    assert (
        admin_page.post(f"/dashboard/apps/{app.id}/secrets/OPENAI_API_KEY/delete/").status_code
        == 302
    )
    assert not AppSecret.objects.for_org(org).exists()


def test_a_bad_secret_key_is_a_form_error(admin_page, org, app):
    response = admin_page.post(
        f"/dashboard/apps/{app.id}/secrets/", {"key": "lower-case", "value": "x"}
    )
    assert response.status_code == 400 and "A-Z0-9_" in response.content.decode()


def test_members_neither_see_nor_change_secrets(member_page, org, app):
    from agentapps.services import app_secret_set

    app_secret_set(agent_app=app, key="TOKEN", value="v")
    html = member_page.get(f"/dashboard/apps/{app.id}/").content.decode()
    assert 'id="secrets"' not in html and "TOKEN" not in html
    assert (
        member_page.post(
            f"/dashboard/apps/{app.id}/secrets/", {"key": "OTHER", "value": "x"}
        ).status_code
        == 403
    )
    assert member_page.post(f"/dashboard/apps/{app.id}/secrets/TOKEN/delete/").status_code == 403
    assert app_secrets_get(agent_app=app) == {"TOKEN": "v"}


# --- webhooks -----------------------------------------------------------------------------------------


def test_admins_create_a_webhook_and_see_its_secret_once(admin_page, org, app):
    response = admin_page.post(
        f"/dashboard/apps/{app.id}/webhooks/",
        {
            "url": "https://hooks.example.com/pixell",
            "events": ["deployment.completed", "deployment.failed"],
        },
    )
    assert response.status_code == 200
    webhook = Webhook.objects.for_org(org).get()
    assert webhook.events == ["deployment.completed", "deployment.failed"]
    secret = response.content.decode().split('data-testid="webhook-secret">')[1].split("<")[0]
    assert secret.startswith("whsec_")
    later = admin_page.get(f"/dashboard/apps/{app.id}/").content.decode()
    assert "https://hooks.example.com/pixell" in later and secret not in later
    assert (
        admin_page.post(f"/dashboard/apps/{app.id}/webhooks/{webhook.id}/delete/").status_code
        == 302
    )
    assert not Webhook.objects.for_org(org).exists()


def test_webhook_errors_are_form_errors(admin_page, org, app):
    response = admin_page.post(
        f"/dashboard/apps/{app.id}/webhooks/",
        {"url": "http://127.0.0.1/hook", "events": ["deployment.completed"]},
    )
    assert response.status_code == 400
    response = admin_page.post(
        f"/dashboard/apps/{app.id}/webhooks/", {"url": "https://hooks.example.com/x"}
    )
    assert response.status_code == 400 and "events" in response.content.decode()
    assert not Webhook.objects.for_org(org).exists()


def test_members_see_webhooks_but_cannot_change_them(member_page, org, app):
    from deployments.services import webhook_create

    webhook, _ = webhook_create(
        organization=org,
        agent_app=app,
        url="https://hooks.example.com/a",
        events=["deployment.failed"],
    )
    html = member_page.get(f"/dashboard/apps/{app.id}/").content.decode()
    assert (
        "https://hooks.example.com/a" in html
        and f'action="/dashboard/apps/{app.id}/webhooks/"' not in html
    )
    assert (
        member_page.post(
            f"/dashboard/apps/{app.id}/webhooks/",
            {"url": "https://hooks.example.com/b", "events": ["deployment.failed"]},
        ).status_code
        == 403
    )
    assert (
        member_page.post(f"/dashboard/apps/{app.id}/webhooks/{webhook.id}/delete/").status_code
        == 403
    )
    assert Webhook.objects.for_org(org).count() == 1


# --- delete app -----------------------------------------------------------------------------------------


def test_admins_delete_an_app_after_typing_its_name(admin_page, org, app):
    wrong = admin_page.post(f"/dashboard/apps/{app.id}/delete/", {"confirm_name": "support"})
    assert wrong.status_code == 400 and AgentApp.objects.for_org(org).exists()
    response = admin_page.post(f"/dashboard/apps/{app.id}/delete/", {"confirm_name": app.name})
    assert response.status_code == 302 and response["Location"] == "/dashboard/apps/"
    assert not AgentApp.objects.for_org(org).exists()


def test_members_cannot_delete_apps(member_page, org, app):
    assert (
        f'action="/dashboard/apps/{app.id}/delete/"'
        not in member_page.get(f"/dashboard/apps/{app.id}/").content.decode()
    )
    assert (
        member_page.post(
            f"/dashboard/apps/{app.id}/delete/", {"confirm_name": app.name}
        ).status_code
        == 403
    )
    assert AgentApp.objects.for_org(org).exists()
