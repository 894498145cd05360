"""Tenancy walker for the dashboard (docs/CONTRACT.md §3), the twin of tests/api/test_tenancy.py:
every page route with a path parameter, opened by a member of another organization with an object
of ``org``, answers 404 — never 200, 302 to a success page, 403 or 500 — for GET and POST alike
(uploads, deploys, package deletes, secret and webhook forms included), and changes nothing.

Routes are found by walking the URL resolver, so a page added later is walked too; a route without
a maker in ``OBJECT_MAKERS`` (keyed by the route with converter types left out, e.g.
``"dashboard/apps/<app_id>/webhooks/<webhook_id>/delete/"``) fails ``test_every_page_route_has_a_maker``.
Routes whose path parameter is itself the credential go in ``NOT_ORG_SCOPED`` with the reason.
"""

import re
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from agentapps.models import AgentApp, AppSecret, Package
from billing.models import CheckoutProvider, CheckoutSession
from deployments.models import Deployment, Webhook
from organizations.models import ApiKey, Invitation, Membership, Role
from organizations.services import invitation_create
from tests.agentapps.packages import apkg_bytes
from tests.dashboard.conftest import session_client
from tests.factories import (
    AgentAppFactory,
    AppSecretFactory,
    DeploymentFactory,
    MembershipFactory,
    PackageFactory,
    SigningKeyFactory,
    WebhookFactory,
    api_key_for,
)

pytestmark = pytest.mark.django_db

NOT_ORG_SCOPED = {
    "verify-email/<key>/": "the emailed verification key is the credential",
    "reset-password/<uid>/<token>/": "the emailed reset token is the credential",
    "invitations/<token>/": "the emailed invitation token is the credential",
    "usage/exports/<token>/": "the signed, expiring download token is the credential",
}


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


def _make_webhook(org, owner):
    app = _app(org)
    return {
        "app_id": str(app.id),
        "webhook_id": str(WebhookFactory(organization=org, agent_app=app).id),
    }


def _make_deployment(org, owner):
    return {"deployment_id": str(DeploymentFactory(organization=org).id)}


def _make_member(org, owner):
    return {"user_id": str(MembershipFactory(organization=org).user_id)}


def _make_invitation(org, owner):
    invitation, _ = invitation_create(
        organization=org,
        actor=owner,
        actor_role=Role.OWNER,
        email="invitee@example.com",
        role=Role.MEMBER,
    )
    return {"invitation_id": str(invitation.id)}


def _make_checkout(org, owner):
    checkout = CheckoutSession.objects.for_org(org).create(
        organization=org,
        session_id=f"sandbox_{uuid.uuid4().hex}",
        provider=CheckoutProvider.SANDBOX,
        user=owner,
        package="starter",
        credits=1000,
        amount_cents=1000,
    )
    return {"session_id": checkout.session_id}


OBJECT_MAKERS = {
    "dashboard/api-keys/<key_id>/rotate/": lambda org, owner: {
        "key_id": str(api_key_for(org)[0].id)
    },
    "dashboard/api-keys/<key_id>/delete/": lambda org, owner: {
        "key_id": str(api_key_for(org)[0].id)
    },
    "dashboard/members/<user_id>/role/": _make_member,
    "dashboard/members/<user_id>/remove/": _make_member,
    "dashboard/invitations/<invitation_id>/revoke/": _make_invitation,
    "dashboard/settings/signing-keys/<key_id>/delete/": lambda org, owner: {
        "key_id": str(SigningKeyFactory(organization=org).id)
    },
    "dashboard/apps/<app_id>/": _make_app,
    "dashboard/apps/<app_id>/delete/": _make_app,
    "dashboard/apps/<app_id>/packages/": _make_app,
    "dashboard/apps/<app_id>/packages/<package_id>/delete/": _make_package,
    "dashboard/apps/<app_id>/deploy/": _make_app,
    "dashboard/apps/<app_id>/secrets/": _make_app,
    "dashboard/apps/<app_id>/secrets/<key>/delete/": _make_secret,
    "dashboard/apps/<app_id>/webhooks/": _make_app,
    "dashboard/apps/<app_id>/try/": _make_app,
    "dashboard/apps/<app_id>/webhooks/<webhook_id>/delete/": _make_webhook,
    "dashboard/deployments/<deployment_id>/": _make_deployment,
    "dashboard/deployments/<deployment_id>/cancel/": _make_deployment,
    "billing/sandbox-checkout/<session_id>/": _make_checkout,
}


def _walk(patterns, prefix=""):
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            yield route, entry


def _key(route: str) -> str:
    """The route without converter types, so ``<uuid:app_id>`` and ``<uuid:app_id>`` are one key."""
    return re.sub(r"<\w+:(\w+)>", r"<\1>", route)


def page_routes():
    """Every route outside /api and /admin with a path parameter, keyed without converter types."""
    return sorted(
        (_key(route), route)
        for route, entry in _walk(get_resolver().url_patterns)
        if not route.startswith(("api/", "admin/"))
        and entry.pattern.converters
        and _key(route) not in NOT_ORG_SCOPED
    )


def _path(route: str, kwargs: dict) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: kwargs[m.group(1)], route)


def _random_kwargs(key: str) -> dict:
    return {name: str(uuid.uuid4()) for name in re.findall(r"<(\w+)>", key)}


# A form post as the pages send it: every field any form has, with plausible values, so a route
# that validates before it looks the object up is caught answering 400 instead of 404.
FORM = {
    "name": "walker",
    "description": "walker",
    "role": "member",
    "email": "walker@example.com",
    "key": "WALKER",
    "value": "secret",
    "url": "https://93.184.216.34/hook",
    "events": "deployment.completed",
    "public_key": "",
    "confirm_name": "Acme",
    "release_notes": "",
    "action": "pay",
    "data": "{}",
}


def _counts():
    return [
        model.all_orgs.count() if hasattr(model, "all_orgs") else model.objects.count()
        for model in (
            AgentApp,
            Package,
            AppSecret,
            Webhook,
            Deployment,
            ApiKey,
            Invitation,
            Membership,
            CheckoutSession,
        )
    ]


ROUTES = page_routes()


@pytest.mark.parametrize(("key", "route"), ROUTES, ids=[key for key, _ in ROUTES])
def test_other_organization_gets_404(key, route, org, owner, other_org, other_owner):
    maker = OBJECT_MAKERS.get(key)
    kwargs = maker(org, owner) if maker else _random_kwargs(key)
    path = _path(route, kwargs)
    own, other = session_client(owner), session_client(other_owner)

    if maker:
        # Control: the object really exists for its own organization (a GET page shows it, a
        # POST-only route does not answer 404 to a GET), so a 404 below means "invisible".
        assert own.get(path).status_code != 404, (
            f"{path}: the maker's object is not visible to its own organization"
        )

    before = _counts()
    answered = {}
    for method in ("get", "post"):
        data = dict(FORM)
        if method == "post" and key.endswith(("/packages/", "/deploy/")):
            data["file"] = _upload()
        response = getattr(other, method)(path, data)
        answered[method] = response.status_code
        assert response.status_code in (404, 405), (
            f"{method.upper()} {path} answered {response.status_code} to another organization"
        )
    assert 404 in answered.values(), f"{path}: no method answered 404 ({answered})"
    assert _counts() == before, f"{path}: another organization's request changed rows"


def _upload():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(
        "walker.apkg", apkg_bytes("9.9.9"), content_type="application/octet-stream"
    )


def test_every_page_route_has_a_maker():
    missing = [key for key, _ in ROUTES if key not in OBJECT_MAKERS]
    assert missing == [], (
        "page routes without a maker in tests/dashboard/test_tenancy.py OBJECT_MAKERS "
        f"(or a reason in NOT_ORG_SCOPED): {missing}"
    )
