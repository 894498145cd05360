"""Property-based fuzzing of our own OpenAPI schema (/api/schema/) with schemathesis, in process.

Every documented operation is called with generated data, once with a real API key and once with
the owner's access token of a real organization, and the answer must not be a 5xx and must match
what the schema documents (status code, content type, body). Bounded so the file runs in well
under a minute; PIXELL_FUZZ_EXAMPLES raises the bound for a longer hunt on a developer machine.
"""

import os
import zlib

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from organizations.models import Role
from organizations.services import invitation_create
from pixell.api import ratelimit
from tests import factories as f
from tests.conftest import client_for

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

# Requests that cannot carry their credential are only held to "never a 5xx": Stripe's webhook needs
# a Stripe-Signature over the exact payload, cron and runtime need shared secrets.
SERVER_ERROR_ONLY = {
    ("POST", "/api/stripe/webhook"),
    ("POST", "/api/cron/process-deployments"),
    ("POST", "/api/runtime/invocations"),
}

# Loaded at collection: the schema view needs no database. (schemathesis.pytest.from_fixture would
# defer it to a db fixture, but 4.32.5's lazy loader breaks on pytest 9: no Function._nodeid.)
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@pytest.fixture
def real_ids(org, owner, settings):
    """Ids of real objects of the organization: random ids alone only ever reach the 404 branch."""
    # Configured, so the webhook's signature check (not its 503 "not configured" answer) is fuzzed.
    settings.STRIPE_WEBHOOK_SECRET = "whsec_fuzz"
    app = f.AgentAppFactory(organization=org)
    deployment = f.DeploymentFactory(organization=org, agent_app=app)
    webhook = f.WebhookFactory(organization=org, agent_app=app)
    secret = f.AppSecretFactory(organization=org, agent_app=app)
    member = f.MembershipFactory(
        organization=org, role=Role.MEMBER, user=f.UserFactory(email="fuzz-member@example.com")
    )
    invitation, _ = invitation_create(
        organization=org,
        actor=owner,
        actor_role=Role.OWNER,
        email="fuzz-invitee@example.com",
        role=Role.MEMBER,
    )
    return {
        "app_id": str(app.id),
        "package_id": str(deployment.package_id),
        "deployment_id": str(deployment.id),
        "webhook_id": str(webhook.id),
        "delivery_id": str(f.WebhookDeliveryFactory(organization=org, webhook=webhook).id),
        "key": secret.key,
        "user_id": str(member.user_id),
        "invitation_id": str(invitation.id),
        "signing_key_id": str(f.SigningKeyFactory(organization=org).id),
        "api_key_id": str(f.api_key_for(org, name="fuzz target")[0].id),
    }


@pytest.fixture
def wsgi_keeps_test_transaction():
    """Requests go through the real WSGI handler, whose request signals close "old" connections:
    inside the test's transaction (autocommit off) Django closes the connection on PostgreSQL and
    every later query fails. Django's own test client disconnects the same handler."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(params=["api_key", "owner"])
def auth_header(request, api_key, owner, org):
    if request.param == "api_key":
        return {"Authorization": f"Bearer {api_key.raw}"}
    return {"Authorization": client_for(owner)._credentials["HTTP_AUTHORIZATION"]}


def _use_real_ids(case, ids):
    # Half of the examples (chosen from the generated values, so a failure replays) aim at real objects.
    params = case.path_parameters or {}
    if not params or zlib.crc32(repr(sorted(params.items())).encode()) % 2:
        return
    for name in params:
        if name == "key_id":
            params[name] = (
                ids["signing_key_id"]
                if case.path.startswith("/api/signing-keys")
                else ids["api_key_id"]
            )
        elif name in ids:
            params[name] = ids[name]


@schema.parametrize()
# derandomize: the same examples on every run, so CI never fails on a case it did not fail on before.
@settings(
    max_examples=int(os.environ.get("PIXELL_FUZZ_EXAMPLES", "5")),
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
@pytest.mark.django_db
def test_api_matches_its_schema(case, auth_header, real_ids, wsgi_keeps_test_transaction):
    _use_real_ids(case, real_ids)
    checks = (
        [not_a_server_error] if (case.method.upper(), case.path) in SERVER_ERROR_ONLY else CHECKS
    )
    case.call_and_validate(headers=auth_header, checks=checks)


# --- regressions found by the fuzzer, replayed as plain tests ---------------------------------------


@pytest.mark.django_db
def test_every_rate_limited_operation_documents_429(settings, api_key_client, anon_client):
    """The middleware answers 429 before any view runs, on every /api operation it does not exempt;
    the schema used to document it on a handful of them only (ST103 "Undocumented status code")."""
    settings.PIXELL_RATE_LIMIT_AUTHENTICATED = "1/m"
    api_key_client.get("/api/credits/balance")
    limited = api_key_client.get("/api/credits/balance")
    assert limited.status_code == 429

    paths = anon_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    assert "429" in paths["/api/credits/balance"]["get"]["responses"]
    undocumented = [
        f"{method.upper()} {path}"
        for path, operations in paths.items()
        if not ratelimit.is_exempt(path)
        for method, operation in operations.items()
        if "429" not in operation["responses"]
    ]
    assert undocumented == []
    assert (
        "429" not in paths["/api/stripe/webhook"]["post"]["responses"]
    )  # exempt: Stripe must get through


@pytest.mark.django_db
def test_limit_and_days_bounds_are_in_the_schema(api_key_client, anon_client):
    """The bounds were only prose in descriptions, so schema-valid values (limit=0, days=366) got a
    400 (ST202 "Schema-valid request rejected"); the schema now states the bounds the views enforce."""
    paths = anon_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    bounds = {
        (path, param["name"]): (param["schema"].get("minimum"), param["schema"].get("maximum"))
        for path, operations in paths.items()
        for operation in operations.values()
        for param in operation.get("parameters", [])
        if param["name"] in ("limit", "days")
    }
    assert len(bounds) == 7  # five paginated lists, two usage views
    assert {b for (_, name), b in bounds.items() if name == "limit"} == {(1, 100)}
    assert {b for (_, name), b in bounds.items() if name == "days"} == {(1, 365)}
    assert api_key_client.get("/api/credits/history?limit=100").status_code == 200
    assert api_key_client.get("/api/credits/history?limit=101").status_code == 400
    assert api_key_client.get("/api/usage/metrics?days=365").status_code == 200
    assert api_key_client.get("/api/usage/metrics?days=366").status_code == 400


@pytest.mark.django_db
def test_stripe_webhook_documents_its_signature_header(anon_client, settings):
    """Without a Stripe-Signature header the webhook is a 400, but the schema did not mention the
    header, so a schema-valid request was always rejected (ST202) and the fuzzer never sent one."""
    settings.STRIPE_WEBHOOK_SECRET = "whsec_fuzz"
    paths = anon_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    headers = [p for p in paths["/api/stripe/webhook"]["post"]["parameters"] if p["in"] == "header"]
    assert [(p["name"], p["required"]) for p in headers] == [("Stripe-Signature", True)]
    assert anon_client.post("/api/stripe/webhook", {}, format="json").status_code == 400
    garbage = anon_client.post(
        "/api/stripe/webhook", {}, format="json", HTTP_STRIPE_SIGNATURE="t=x,v1=\x00"
    )
    assert garbage.status_code == 400
    assert garbage.json()["code"] == "VALIDATION_ERROR"


@pytest.mark.django_db
def test_operations_with_a_body_document_415(anon_client):
    """A body with no or an unparsed Content-Type is a 415 from DRF before the view runs; the schema
    left it out (ST103 on POST /api/auth/password/reset/confirm with a body sent without one)."""
    response = anon_client.generic(
        "POST", "/api/auth/password/reset/confirm", b"uid=1", content_type=""
    )
    assert response.status_code == 415
    assert response.json()["code"] == "VALIDATION_ERROR"
    paths = anon_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    undocumented = [
        f"{method.upper()} {path}"
        for path, operations in paths.items()
        for method, operation in operations.items()
        if "requestBody" in operation and "415" not in operation["responses"]
    ]
    assert undocumented == []
