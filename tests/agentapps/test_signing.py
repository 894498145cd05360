"""Signing keys (/api/signing-keys) and Ed25519 verification of detached package signatures
(docs/CONTRACT.md §4)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key
from django.core.files.uploadedfile import SimpleUploadedFile

from agentapps.models import Package, SigningKey
from tests.agentapps.packages import apkg_bytes, ed25519_keypair, upload

pytestmark = pytest.mark.django_db

KEYS = "/api/signing-keys"


def register(client, public_key, name="CI"):
    return client.post(KEYS, {"name": name, "public_key": public_key}, format="json")


def sig_file(data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile("agent.apkg.sig", data, content_type="application/octet-stream")


def post_signed(client, app, data: bytes, signature=None):
    fields = {"file": upload(data)}
    if signature is not None:
        fields["signature"] = signature
    return client.post(f"/api/agent-apps/{app.id}/packages", fields, format="multipart")


# --- the keys API -----------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["pem", "base64"])
def test_registering_a_key_answers_the_contract_shape(owner_client, org, form):
    _, pem, raw = ed25519_keypair()
    submitted = pem if form == "pem" else base64.b64encode(raw).decode()

    response = register(owner_client, submitted, name="Release key")

    assert response.status_code == 201
    body = response.json()["signing_key"]
    assert set(body) == {"id", "name", "fingerprint", "created_at"}
    assert body["name"] == "Release key"
    assert body["fingerprint"] == hashlib.sha256(raw).hexdigest()
    assert SigningKey.objects.for_org(org).get().public_key == base64.b64encode(raw).decode()


def test_listing_keys(member_client, owner_client):
    register(owner_client, ed25519_keypair()[1], name="one")
    register(owner_client, ed25519_keypair()[1], name="two")

    response = member_client.get(KEYS)

    assert response.status_code == 200
    assert [k["name"] for k in response.json()["signing_keys"]] == ["two", "one"]
    assert set(response.json()["signing_keys"][0]) == {"id", "name", "fingerprint", "created_at"}


def test_the_same_key_twice_is_a_conflict(owner_client):
    _, pem, raw = ed25519_keypair()
    register(owner_client, pem)
    response = register(owner_client, base64.b64encode(raw).decode())
    assert response.status_code == 409
    assert response.json()["code"] == "CONFLICT"


def _rsa_pem() -> str:
    key = generate_private_key(public_exponent=65537, key_size=1024)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.mark.parametrize(
    "public_key",
    [
        "",
        "not a key",
        base64.b64encode(b"x" * 31).decode(),
        "-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----",
        "rsa",
    ],
    ids=["empty", "text", "short", "bad-pem", "rsa"],
)
def test_invalid_public_keys_are_400(owner_client, public_key):
    response = register(owner_client, _rsa_pem() if public_key == "rsa" else public_key)
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert "public_key" in response.json()["details"]


@pytest.mark.parametrize(
    "who, status", [("owner", 201), ("admin", 201), ("member", 403), ("api_key", 403)]
)
def test_creating_keys_needs_admin(role_clients, who, status):
    assert register(role_clients[who], ed25519_keypair()[1]).status_code == status


@pytest.mark.parametrize(
    "who, status", [("owner", 200), ("admin", 200), ("member", 403), ("api_key", 403)]
)
def test_deleting_keys_needs_admin(role_clients, owner_client, who, status):
    key_id = register(owner_client, ed25519_keypair()[1]).json()["signing_key"]["id"]
    response = role_clients[who].delete(f"{KEYS}/{key_id}")
    assert response.status_code == status
    assert SigningKey.all_orgs.filter(pk=key_id).exists() is (status != 200)


def test_keys_are_scoped_to_the_organization(owner_client, other_client):
    key_id = register(owner_client, ed25519_keypair()[1]).json()["signing_key"]["id"]
    assert other_client.get(KEYS).json()["signing_keys"] == []
    assert other_client.delete(f"{KEYS}/{key_id}").status_code == 404
    assert owner_client.delete(f"{KEYS}/not-a-uuid").status_code == 404


# --- verification on upload -------------------------------------------------------------------------


@pytest.fixture
def signer(owner_client) -> Ed25519PrivateKey:
    private, pem, _ = ed25519_keypair()
    assert register(owner_client, pem).status_code == 201
    return private


@pytest.mark.parametrize("encoding", ["raw", "base64-file", "base64-text"])
def test_a_valid_signature_is_accepted(owner_client, app, signer, encoding):
    data = apkg_bytes(padding=3 * 1024 * 1024)  # on disk: verified through a memory map
    signature = signer.sign(data)
    if encoding == "raw":
        field = sig_file(signature)
    elif encoding == "base64-file":
        field = sig_file(base64.b64encode(signature) + b"\n")
    else:
        field = base64.b64encode(signature).decode()

    response = post_signed(owner_client, app, data, field)

    assert response.status_code == 201, response.json()
    assert Package.all_orgs.get().signed is True


def test_any_registered_key_may_verify(owner_client, app, signer):
    second, pem, _ = ed25519_keypair()
    register(owner_client, pem, name="second")
    data = apkg_bytes()
    assert post_signed(owner_client, app, data, sig_file(second.sign(data))).status_code == 201


@pytest.mark.parametrize("case", ["other-key", "other-bytes", "garbage", "empty-file"])
def test_a_signature_no_key_verifies_is_refused(owner_client, app, signer, case, tmp_path):
    data = apkg_bytes()
    signature = {
        "other-key": Ed25519PrivateKey.generate().sign(data),
        "other-bytes": signer.sign(data + b"!"),
        "garbage": b"not a signature at all",
        "empty-file": b"",
    }[case]

    response = post_signed(owner_client, app, data, sig_file(signature))

    assert response.status_code == 400
    assert response.json()["code"] == "PACKAGE_VALIDATION_FAILED"
    assert response.json()["details"] == ["Invalid package signature"]
    assert not Package.all_orgs.exists()


def test_a_signature_with_no_registered_key_is_refused(owner_client, app):
    data = apkg_bytes()
    response = post_signed(
        owner_client, app, data, sig_file(Ed25519PrivateKey.generate().sign(data))
    )
    assert response.json()["details"] == ["Invalid package signature"]


def test_another_organizations_key_does_not_verify(other_client, owner_client, app):
    private, pem, _ = ed25519_keypair()
    register(other_client, pem)
    data = apkg_bytes()
    assert post_signed(owner_client, app, data, sig_file(private.sign(data))).status_code == 400


def test_signature_reasons_come_with_the_packages_own(owner_client, app, signer):
    data = apkg_bytes(with_manifest=False)
    response = post_signed(owner_client, app, data, sig_file(b"x" * 64))
    details = response.json()["details"]
    assert "Invalid package signature" in details
    assert any(d.startswith("Missing required manifest") for d in details)


def test_unsigned_packages_pass_unless_the_organization_requires_signatures(
    owner_client, app, org, signer
):
    assert post_signed(owner_client, app, apkg_bytes("1.0.0")).status_code == 201
    assert Package.all_orgs.get().signed is False

    org.require_signed_packages = True
    org.save(update_fields=["require_signed_packages"])

    refused = post_signed(owner_client, app, apkg_bytes("2.0.0"))
    assert refused.status_code == 400
    assert refused.json()["details"] == ["Package signature required"]
    data = apkg_bytes("2.0.0")
    assert post_signed(owner_client, app, data, sig_file(signer.sign(data))).status_code == 201


def test_an_empty_text_signature_counts_as_unsigned(owner_client, app):
    assert post_signed(owner_client, app, apkg_bytes(), "").status_code == 201
