"""App secrets (docs/CONTRACT.md §4) with the exact shapes `pixell secrets` uses (docs/pixell-kit.md §5):
admin or API key, values encrypted at rest, never logged."""

from __future__ import annotations

import logging

import pytest

from agentapps import crypto
from agentapps.models import AppSecret
from agentapps.selectors import app_secrets_get

pytestmark = pytest.mark.django_db


def base(app):
    return f"/api/agent-apps/{app.id}/secrets"


def test_set_list_update_delete_round_trip(api_key_client, app):
    replaced = api_key_client.post(
        base(app), {"secrets": {"OPENAI_API_KEY": "sk-x", "DEBUG": "false"}}, format="json"
    )
    assert replaced.status_code == 200
    assert replaced.json() == {"success": True, "secretCount": 2}

    listed = api_key_client.get(base(app))
    assert listed.status_code == 200
    assert listed.json() == {"secrets": {"DEBUG": "false", "OPENAI_API_KEY": "sk-x"}}

    updated = api_key_client.put(f"{base(app)}/DEBUG", {"value": "true"}, format="json")
    assert (updated.status_code, updated.json()) == (200, {"success": True, "key": "DEBUG"})
    added = api_key_client.put(f"{base(app)}/NEW_ONE", {"value": "  spaced  "}, format="json")
    assert added.status_code == 200
    assert api_key_client.get(base(app)).json()["secrets"] == {
        "DEBUG": "true",
        "NEW_ONE": "  spaced  ",
        "OPENAI_API_KEY": "sk-x",
    }

    deleted = api_key_client.delete(f"{base(app)}/DEBUG")
    assert (deleted.status_code, deleted.json()) == (200, {"success": True, "key": "DEBUG"})
    assert set(api_key_client.get(base(app)).json()["secrets"]) == {"NEW_ONE", "OPENAI_API_KEY"}

    all_gone = api_key_client.delete(base(app))
    assert (all_gone.status_code, all_gone.json()) == (200, {"success": True})
    assert api_key_client.get(base(app)).json() == {"secrets": {}}


def test_post_replaces_all_secrets(admin_client, app):
    admin_client.post(base(app), {"secrets": {"A": "1", "B": "2"}}, format="json")
    admin_client.post(base(app), {"secrets": {"C": "3"}}, format="json")
    assert admin_client.get(base(app)).json()["secrets"] == {"C": "3"}
    assert admin_client.post(base(app), {"secrets": {}}, format="json").json() == {
        "success": True,
        "secretCount": 0,
    }
    assert admin_client.get(base(app)).json()["secrets"] == {}


def test_deleting_a_missing_secret_is_404(admin_client, app):
    response = admin_client.delete(f"{base(app)}/NOPE")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


def test_values_are_encrypted_at_rest(admin_client, app):
    admin_client.post(base(app), {"secrets": {"TOKEN": "super-secret-value"}}, format="json")
    row = AppSecret.objects.for_org(app.organization).get()
    assert "super-secret-value" not in row.value_encrypted
    assert crypto.secret_decrypt(row.value_encrypted) == "super-secret-value"
    assert app_secrets_get(agent_app=app) == {"TOKEN": "super-secret-value"}


def test_a_configured_secrets_key_is_used_and_rotates(settings, app, admin_client):
    settings.PIXELL_SECRETS_KEY = "old-key"
    admin_client.put(f"{base(app)}/K", {"value": "v"}, format="json")
    token = AppSecret.objects.for_org(app.organization).get().value_encrypted
    # A different key cannot decrypt: the configured key, not SECRET_KEY, encrypted it.
    settings.PIXELL_SECRETS_KEY = "new-key"
    with pytest.raises(crypto.SecretDecryptionError):
        crypto.secret_decrypt(token)
    # Rotation: the new key first, the old one still listed — old values read, new ones use the new key.
    settings.PIXELL_SECRETS_KEY = "new-key, old-key"
    assert app_secrets_get(agent_app=app) == {"K": "v"}
    fresh = crypto.secret_encrypt("round trip")
    settings.PIXELL_SECRETS_KEY = "new-key"
    assert crypto.secret_decrypt(fresh) == "round trip"


def test_values_are_never_logged(admin_client, app, caplog):
    caplog.set_level(logging.DEBUG)
    admin_client.post(base(app), {"secrets": {"TOKEN": "never-in-logs-123"}}, format="json")
    admin_client.put(f"{base(app)}/TOKEN", {"value": "never-in-logs-456"}, format="json")
    admin_client.get(base(app))
    assert "never-in-logs" not in caplog.text


@pytest.mark.parametrize(
    "body",
    [
        {"secrets": {"lower": "x"}},
        {"secrets": {"HAS-DASH": "x"}},
        {"secrets": {"": "x"}},
        {"secrets": {"NUM": 5}},
        {"secrets": {"A": None}},
        {"secrets": ["A"]},
        {"secrets": "A=1"},
        {},
    ],
)
def test_invalid_secrets_are_400(admin_client, app, body):
    response = admin_client.post(base(app), body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert not AppSecret.all_orgs.exists()


def test_the_kits_key_rule_is_accepted(admin_client, app):
    # pixell-kit's own rule is ^[A-Z0-9_]+$ (a leading digit included): whatever it sends, we take.
    response = admin_client.post(
        base(app), {"secrets": {"1ST_KEY": "a", "_X": "b", "A_2": "c"}}, format="json"
    )
    assert response.status_code == 200


@pytest.mark.parametrize("body", [{}, {"value": 5}, {"value": None}])
def test_put_needs_a_string_value(admin_client, app, body):
    response = admin_client.put(f"{base(app)}/KEY", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


def test_put_validates_the_key(admin_client, app):
    assert (
        admin_client.put(f"{base(app)}/bad-key", {"value": "x"}, format="json").status_code == 400
    )


def test_too_long_values_are_refused(admin_client, app):
    response = admin_client.put(f"{base(app)}/BIG", {"value": "x" * (32 * 1024 + 1)}, format="json")
    assert response.status_code == 400


@pytest.mark.parametrize(
    "who, status", [("owner", 200), ("admin", 200), ("member", 403), ("api_key", 200)]
)
def test_secrets_need_admin_or_an_api_key(role_clients, who, status, app):
    client = role_clients[who]
    assert client.get(base(app)).status_code == status
    assert client.post(base(app), {"secrets": {"A": "1"}}, format="json").status_code == status
    assert client.put(f"{base(app)}/B", {"value": "2"}, format="json").status_code == status
    assert client.delete(f"{base(app)}/A").status_code == (status if status == 403 else 200)
    assert client.delete(base(app)).status_code == status


def test_another_organizations_app_secrets_are_404(other_client, app, admin_client):
    admin_client.post(base(app), {"secrets": {"A": "1"}}, format="json")
    for response in (
        other_client.get(base(app)),
        other_client.post(base(app), {"secrets": {}}, format="json"),
        other_client.put(f"{base(app)}/A", {"value": "x"}, format="json"),
        other_client.delete(f"{base(app)}/A"),
        other_client.delete(base(app)),
    ):
        assert response.status_code == 404
    assert app_secrets_get(agent_app=app) == {"A": "1"}


def test_secrets_go_with_their_app(admin_client, app, org):
    from agentapps.models import AgentApp

    other = AgentApp.objects.for_org(org).create(organization=org, name="Other")
    admin_client.post(base(app), {"secrets": {"A": "1"}}, format="json")
    admin_client.post(base(other), {"secrets": {"B": "2"}}, format="json")
    assert app_secrets_get(agent_app=other) == {"B": "2"}
    admin_client.delete(f"/api/agent-apps/{app.id}")
    assert list(AppSecret.all_orgs.values_list("key", flat=True)) == ["B"]
