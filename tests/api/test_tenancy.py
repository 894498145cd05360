"""Tenancy walker (docs/CONTRACT.md §3): every object route under /api, called with another organization's
credentials against an object of ``org``, answers 404 — never 403, 200 or 500.

Routes are found by walking the URL resolver, so routes added later are covered automatically.

TO REGISTER YOUR ROUTE: add an entry to ``OBJECT_MAKERS`` keyed by the route exactly as Django
shows it (e.g. ``"api/agent-apps/<uuid:app_id>/webhooks/<uuid:webhook_id>"``); the maker gets
``(org, owner)`` and returns the URL kwargs of a real object of ``org`` (made through the
services by tests/factories.py). Routes whose objects are not organization-scoped go in
``NOT_ORG_SCOPED`` with the reason. A route without a maker is still called, with random ids
(it must answer 404, not 500), and is reported by ``test_every_object_route_has_a_maker``.

The dashboard's pages have the same walker in tests/dashboard/test_tenancy.py.
"""

import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from organizations.models import Invitation, Role
from organizations.services import invitation_create
from tests.factories import (
    AgentAppFactory,
    AppSecretFactory,
    DeploymentFactory,
    MembershipFactory,
    PackageFactory,
    SigningKeyFactory,
    WebhookDeliveryFactory,
    WebhookFactory,
    api_key_for,
)

pytestmark = pytest.mark.django_db

NOT_ORG_SCOPED = {
    # The signed, expiring link is the credential (like a presigned S3 URL); no caller identity.
    "api/packages/<uuid:package_id>/download": "signed download link",
}

_METHODS = ("get", "post", "put", "patch", "delete")


def _app(org):
    return AgentAppFactory(organization=org, is_public=False)


def _make_app(org, owner):
    return {"app_id": str(_app(org).id)}


def _make_package(org, owner):
    app = _app(org)
    return {
        "app_id": str(app.id),
        "package_id": str(PackageFactory(organization=org, agent_app=app).id),
    }


def _make_secret(org, owner):
    app = _app(org)
    return {"app_id": str(app.id), "key": AppSecretFactory(organization=org, agent_app=app).key}


def _make_signing_key(org, owner):
    return {"key_id": str(SigningKeyFactory(organization=org).id)}


def _make_deployment(org, owner):
    return {"deployment_id": str(DeploymentFactory(organization=org).id)}


def _make_webhook(org, owner):
    app = _app(org)
    return {
        "app_id": str(app.id),
        "webhook_id": str(WebhookFactory(organization=org, agent_app=app).id),
    }


def _make_delivery(org, owner):
    app = _app(org)
    hook = WebhookFactory(organization=org, agent_app=app)
    delivery = WebhookDeliveryFactory(organization=org, webhook=hook)
    return {"app_id": str(app.id), "webhook_id": str(hook.id), "delivery_id": str(delivery.id)}


def _make_invitation(org, owner):
    invitation, _ = invitation_create(
        organization=org,
        actor=owner,
        actor_role=Role.OWNER,
        email="invitee@example.com",
        role=Role.MEMBER,
    )
    return {"invitation_id": str(invitation.id)}


OBJECT_MAKERS = {
    "api/organizations/members/<uuid:user_id>": lambda org, owner: {
        "user_id": str(MembershipFactory(organization=org).user_id)
    },
    "api/organizations/invitations/<uuid:invitation_id>": _make_invitation,
    "api/api-keys/<uuid:key_id>": lambda org, owner: {"key_id": str(api_key_for(org)[0].id)},
    "api/api-keys/<uuid:key_id>/rotate": lambda org, owner: {"key_id": str(api_key_for(org)[0].id)},
    "api/agent-apps/<uuid:app_id>": _make_app,
    "api/agent-apps/<uuid:app_id>/packages": _make_app,
    "api/agent-apps/<uuid:app_id>/packages/deploy": _make_app,
    "api/agent-apps/<uuid:app_id>/packages/<uuid:package_id>": _make_package,
    "api/agent-apps/<uuid:app_id>/secrets": _make_app,
    "api/agent-apps/<uuid:app_id>/secrets/<str:key>": _make_secret,
    "api/agent-apps/<uuid:app_id>/deployments": _make_app,
    "api/agent-apps/<uuid:app_id>/invoke": _make_app,
    "api/agent-apps/<uuid:app_id>/runtime": _make_app,
    "api/agent-apps/<uuid:app_id>/webhooks": _make_app,
    "api/agent-apps/<uuid:app_id>/webhooks/<uuid:webhook_id>": _make_webhook,
    "api/agent-apps/<uuid:app_id>/webhooks/<uuid:webhook_id>/deliveries": _make_webhook,
    "api/agent-apps/<uuid:app_id>/webhooks/<uuid:webhook_id>/ping": _make_webhook,
    "api/agent-apps/<uuid:app_id>/webhooks/<uuid:webhook_id>/deliveries/<uuid:delivery_id>/redeliver": _make_delivery,
    "api/signing-keys/<uuid:key_id>": _make_signing_key,
    "api/deployments/<uuid:deployment_id>": _make_deployment,
    "api/deployments/<uuid:deployment_id>/cancel": _make_deployment,
}


def _walk(patterns, prefix=""):
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            yield route, entry


def object_routes():
    """(route, pattern) of every /api route with a path parameter."""
    return sorted(
        (route, entry)
        for route, entry in _walk(get_resolver().url_patterns)
        if route.startswith("api/") and entry.pattern.converters and route not in NOT_ORG_SCOPED
    )


def _methods(entry) -> list[str]:
    view = getattr(entry.callback, "view_class", None) or getattr(entry.callback, "cls", None)
    if view is None:
        return ["get"]
    return [m for m in _METHODS if hasattr(view, m)]


def _path(route: str, entry, kwargs: dict) -> str:
    path = "/" + route
    for name in entry.pattern.converters:
        path = path.replace(f"<{_converter_label(route, name)}:{name}>", kwargs[name]).replace(
            f"<{name}>", kwargs[name]
        )
    return path


def _converter_label(route: str, name: str) -> str:
    import re

    match = re.search(rf"<(\w+):{name}>", route)
    return match.group(1) if match else "str"


def _random_kwargs(entry) -> dict:
    return {
        name: (str(uuid.uuid4()) if name != "key" else "SOME_KEY")
        for name in entry.pattern.converters
    }


ROUTES = object_routes()


@pytest.mark.parametrize(("route", "entry"), ROUTES, ids=[route for route, _ in ROUTES])
def test_other_organization_gets_404(route, entry, org, owner, owner_client, other_client):
    maker = OBJECT_MAKERS.get(route)
    # A route without a maker is still walked with random ids (it must 404, not 500) and fails
    # test_every_object_route_has_a_maker.
    kwargs = maker(org, owner) if maker else _random_kwargs(entry)
    path = _path(route, entry, kwargs)

    if maker and "get" in _methods(entry):
        # Control: the object really exists for its own organization, so a 404 below means
        # "invisible", not "the maker made nothing".
        assert owner_client.get(path).status_code != 404, (
            f"{path}: the maker's object is not visible to its own organization"
        )

    for method in _methods(entry):
        response = getattr(other_client, method)(path, {}, format="json")
        assert response.status_code == 404, (
            f"{method.upper()} {path} answered {response.status_code} to another organization: {response.content[:300]!r}"
        )
        assert response.json()["code"] == "NOT_FOUND"


def test_every_object_route_has_a_maker():
    missing = [route for route, _ in ROUTES if route not in OBJECT_MAKERS]
    assert missing == [], (
        "object routes without a maker in tests/api/test_tenancy.py OBJECT_MAKERS: "
        + ", ".join(missing)
    )


def test_invitation_of_other_org_cannot_be_revoked(org, owner, other_client):
    invitation_id = _make_invitation(org, owner)["invitation_id"]
    assert other_client.delete(f"/api/organizations/invitations/{invitation_id}").status_code == 404
    assert Invitation.objects.for_org(org).get(pk=invitation_id).revoked_at is None
