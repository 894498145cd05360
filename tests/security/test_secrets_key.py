"""Secrets-key rotation (docs/DECISIONS.md "Secrets-key rotation"): `rotate_secrets_key`
re-encrypts every stored secret under the first key of PIXELL_SECRETS_KEY, in batches and
resumably; a value no key can decrypt is a clear 503 SECRETS_KEY_MISMATCH, never a 500, and
/api/health names it."""

import io

import pytest
from django.core.management import CommandError, call_command

import pixell.api.health as health
from agentapps.models import AppSecret
from deployments import crypto as deployments_crypto
from deployments.delivery import webhook_secret
from deployments.models import Deployment, Webhook
from deployments.pipeline import deployment_environment
from pixell import crypto
from tests.dashboard.conftest import session_client
from tests.factories import AgentAppFactory, AppSecretFactory, DeploymentFactory, WebhookFactory

pytestmark = pytest.mark.django_db

OLD = "old-secrets-key-0123456789abcdefghijklmnop"
NEW = "new-secrets-key-0123456789abcdefghijklmnop"
LOST = "lost-secrets-key-0123456789abcdefghijklmno"


@pytest.fixture(autouse=True)
def _fresh_health_probes(monkeypatch):
    monkeypatch.setattr(health, "_secrets_probe", (None, None, 0.0))
    monkeypatch.setattr(health, "_storage_probe", (None, 0.0))


@pytest.fixture
def stored(settings, org):
    """One value of each kind, written under OLD."""
    settings.PIXELL_SECRETS_KEY = OLD
    app = AgentAppFactory(organization=org)
    AppSecretFactory(organization=org, agent_app=app, key="API_TOKEN", value="tok-1")
    AppSecretFactory(organization=org, agent_app=app, key="OTHER", value="tok-2")
    webhook = WebhookFactory(organization=org, agent_app=app)
    deployment = DeploymentFactory(organization=org, agent_app=app)
    Deployment.all_orgs.filter(pk=deployment.pk).update(
        environment_encrypted=deployments_crypto.encrypt_json(
            {"MODE": "prod"}, purpose=deployments_crypto.ENVIRONMENT_PURPOSE
        )
    )
    return {
        "app": app,
        "webhook": webhook,
        "deployment": deployment,
        "secret": webhook_secret(webhook),
    }


def _values():
    return (
        list(AppSecret.all_orgs.order_by("key").values_list("value_encrypted", flat=True))
        + list(Webhook.all_orgs.values_list("secret_encrypted", flat=True))
        + list(
            Deployment.all_orgs.exclude(environment_encrypted="").values_list(
                "environment_encrypted", flat=True
            )
        )
    )


def _rotate(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("rotate_secrets_key", *args, stdout=out, stderr=err)
    return out.getvalue()


def _readable(stored, admin_client):
    response = admin_client.get(f"/api/agent-apps/{stored['app'].id}/secrets")
    assert response.status_code == 200, response.json()
    assert response.json() == {"secrets": {"API_TOKEN": "tok-1", "OTHER": "tok-2"}}
    assert webhook_secret(Webhook.all_orgs.get(pk=stored["webhook"].pk)) == stored["secret"]
    assert deployment_environment(Deployment.all_orgs.get(pk=stored["deployment"].pk)) == {
        "MODE": "prod"
    }


# --- rotation ------------------------------------------------------------------------------------


def test_rotation_moves_every_value_to_the_new_key(settings, stored, admin_client):
    settings.PIXELL_SECRETS_KEY = f"{NEW},{OLD}"
    output = _rotate()
    assert "app secrets: re-encrypted 2, 0 already under" in output
    assert "webhook secrets: re-encrypted 1" in output
    assert "deploy environments: re-encrypted 1" in output
    new_id = crypto.key_id(NEW)
    assert all(value.startswith(f"{new_id}:") for value in _values())
    # The old key can go: everything reads under the new one alone.
    settings.PIXELL_SECRETS_KEY = NEW
    _readable(stored, admin_client)


def test_running_again_skips_what_is_done(settings, stored):
    settings.PIXELL_SECRETS_KEY = f"{NEW},{OLD}"
    _rotate()
    before = _values()
    output = _rotate()
    assert "app secrets: re-encrypted 0, 2 already under" in output
    assert _values() == before  # nothing rewritten


def test_small_batches_and_an_interrupted_run_finish_the_job(settings, stored, monkeypatch):
    settings.PIXELL_SECRETS_KEY = f"{NEW},{OLD}"
    real = crypto.encrypt
    calls = {"n": 0}

    def crash_after_one(value, *, purpose):
        calls["n"] += 1
        if calls["n"] > 1:
            raise KeyboardInterrupt  # the operator's ^C in the middle of a run
        return real(value, purpose=purpose)

    monkeypatch.setattr(crypto, "encrypt", crash_after_one)
    with pytest.raises(KeyboardInterrupt):
        _rotate("--batch-size", "1")
    monkeypatch.setattr(crypto, "encrypt", real)
    output = _rotate("--batch-size", "1")
    assert "app secrets: re-encrypted 1, 1 already under" in output
    assert all(value.startswith(f"{crypto.key_id(NEW)}:") for value in _values())


def test_dry_run_writes_nothing(settings, stored):
    settings.PIXELL_SECRETS_KEY = f"{NEW},{OLD}"
    before = _values()
    output = _rotate("--dry-run")
    assert "app secrets: would re-encrypt 2" in output
    assert _values() == before


def test_values_without_a_key_id_are_read_and_rotated(settings, org, admin_client):
    # Written before key ids existed: a bare Fernet token.
    settings.PIXELL_SECRETS_KEY = OLD
    app = AgentAppFactory(organization=org)
    row = AppSecretFactory(organization=org, agent_app=app, key="LEGACY", value="v")
    bare = row.value_encrypted.partition(":")[2]
    AppSecret.all_orgs.filter(pk=row.pk).update(value_encrypted=bare)
    settings.PIXELL_SECRETS_KEY = f"{NEW},{OLD}"
    assert admin_client.get(f"/api/agent-apps/{app.id}/secrets").json() == {
        "secrets": {"LEGACY": "v"}
    }
    assert "app secrets: re-encrypted 1" in _rotate()
    assert AppSecret.all_orgs.get(pk=row.pk).value_encrypted.startswith(crypto.key_id(NEW) + ":")


def test_an_undecryptable_value_is_reported_and_the_rest_rotated(settings, stored, org):
    settings.PIXELL_SECRETS_KEY = LOST
    lost = AppSecretFactory(organization=org, agent_app=stored["app"], key="LOST", value="x")
    settings.PIXELL_SECRETS_KEY = f"{NEW},{OLD}"
    with pytest.raises(CommandError, match="1 stored value"):
        _rotate()
    assert AppSecret.all_orgs.get(pk=lost.pk).value_encrypted.startswith(crypto.key_id(LOST))
    others = AppSecret.all_orgs.exclude(pk=lost.pk)
    assert all(
        v.startswith(crypto.key_id(NEW)) for v in others.values_list("value_encrypted", flat=True)
    )


def test_a_value_rewritten_during_the_run_is_not_overwritten(settings, stored, monkeypatch):
    settings.PIXELL_SECRETS_KEY = f"{NEW},{OLD}"
    row = AppSecret.all_orgs.get(key="API_TOKEN")
    real = crypto.decrypt

    def app_writes_meanwhile(token, *, purpose, label="secret"):
        if token == row.value_encrypted:
            AppSecret.all_orgs.filter(pk=row.pk).update(
                value_encrypted=crypto.encrypt("new-value", purpose=purpose)
            )
        return real(token, purpose=purpose, label=label)

    monkeypatch.setattr(crypto, "decrypt", app_writes_meanwhile)
    output = _rotate()
    assert "1 rewritten meanwhile" in output
    monkeypatch.setattr(crypto, "decrypt", real)
    settings.PIXELL_SECRETS_KEY = NEW
    from agentapps.selectors import app_secrets_get

    assert app_secrets_get(agent_app=stored["app"])["API_TOKEN"] == "new-value"


# --- an undecryptable value in the API, the dashboard and health -----------------------------------


def test_secrets_api_answers_503_naming_the_key_problem(settings, stored, admin_client):
    settings.PIXELL_SECRETS_KEY = NEW  # OLD dropped before rotating
    response = admin_client.get(f"/api/agent-apps/{stored['app'].id}/secrets")
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "SECRETS_KEY_MISMATCH"
    assert set(body) == {"error", "code", "details"}
    assert "PIXELL_SECRETS_KEY" in body["error"] and crypto.key_id(OLD) in body["error"]
    assert "tok-1" not in response.content.decode()


def test_the_dashboard_app_page_still_lists_secret_names(settings, stored, owner):
    settings.PIXELL_SECRETS_KEY = NEW
    response = session_client(owner).get(f"/dashboard/apps/{stored['app'].id}/")
    assert response.status_code == 200
    assert "API_TOKEN" in response.content.decode()


def test_health_names_undecryptable_values(settings, stored, anon_client):
    assert anon_client.get("/api/health").json()["services"]["secrets"] == "operational"
    settings.PIXELL_SECRETS_KEY = NEW
    health._secrets_probe = (None, None, 0.0)
    response = anon_client.get("/api/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["services"]["secrets"] == (
        "error: 4 stored value(s) cannot be decrypted with PIXELL_SECRETS_KEY "
        "(app secrets: 2, webhook secrets: 1, deploy environments: 1)"
    )
    assert body["services"]["database"] == "connected"


def test_health_counts_without_decrypting_and_is_remembered(
    settings, stored, anon_client, monkeypatch
):
    settings.PIXELL_SECRETS_KEY = f"{NEW},{OLD}"
    _rotate()
    settings.PIXELL_SECRETS_KEY = NEW

    def no_decrypting(*args, **kwargs):
        raise AssertionError("health decrypted a value that carries its key id")

    monkeypatch.setattr(crypto, "decrypt", no_decrypting)
    counted = {"n": 0}
    real = crypto.undecryptable_counts

    def counting():
        counted["n"] += 1
        return real()

    monkeypatch.setattr(crypto, "undecryptable_counts", counting)
    for _ in range(3):
        assert anon_client.get("/api/health").json()["services"]["secrets"] == "operational"
    assert counted["n"] == 1


def test_a_deploy_whose_environment_cannot_be_built_fails_its_step_clearly(settings, stored):
    from deployments.pipeline import StepContext, StepFailed, notify_runtime

    settings.PIXELL_RUNTIME_URL = "http://127.0.0.1:9/"
    settings.PIXELL_RUNTIME_SECRET = "r" * 32
    settings.PIXELL_SECRETS_KEY = NEW
    context = StepContext(
        deployment=Deployment.all_orgs.get(pk=stored["deployment"].pk), heartbeat=lambda: None
    )
    with pytest.raises(StepFailed, match="PIXELL_SECRETS_KEY"):
        notify_runtime(context)


def test_encrypted_values_carry_their_key_id(settings):
    settings.PIXELL_SECRETS_KEY = f"{NEW},{OLD}"
    token = crypto.encrypt("v", purpose="p")
    kid, _, body = token.partition(":")
    assert kid == crypto.key_id(NEW) == crypto.current_key_id() and len(kid) == 12
    assert NEW not in token and crypto.key_id(NEW) != crypto.key_id(OLD)
    assert body.startswith("gAAAAA")  # the rest is a plain Fernet token


def test_the_schema_documents_the_503():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    answer = schema["paths"]["/api/agent-apps/{app_id}/secrets"]["get"]["responses"]["503"]
    assert "SECRETS_KEY_MISMATCH" in answer["description"]
