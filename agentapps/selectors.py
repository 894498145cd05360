"""Agent-app reads. Objects are resolved here, scoped to the caller's organization.

Visibility (docs/CONTRACT.md §3, §4): an organization sees its own apps; a public app of another
organization can be read (the app and its package list) by any signed-in caller but changed only by
its owners, so a change to it is a 403; any other foreign object is a 404, as if it did not exist.
"""

from __future__ import annotations

import base64
import uuid

from django.db.models import Prefetch, Q, QuerySet

from agentapps.crypto import secret_decrypt
from agentapps.errors import AppNotFound, PublicAppReadOnly
from agentapps.models import AgentApp, AppSecret, Package, PackageStatus, SigningKey
from pixell.errors import NotFound


def live_packages(queryset: QuerySet | None = None) -> QuerySet:
    """Packages not deleted, newest first."""
    qs = queryset if queryset is not None else Package.all_orgs.all()
    return qs.filter(deleted_at__isnull=True).order_by("-created_at", "-id")


def agent_app_list(*, organization) -> QuerySet:
    # One query for the apps and one for all their packages, however many apps (no N+1).
    return (
        AgentApp.objects.for_org(organization)
        .prefetch_related(Prefetch("packages", queryset=live_packages(), to_attr="live_packages"))
        .order_by("-created_at", "-id")
    )


def agent_app_get(*, organization, app_id: uuid.UUID) -> AgentApp:
    """The organization's own app (for changes, secrets, uploads). A foreign public app: 403."""
    app = AgentApp.objects.for_org(organization).filter(pk=app_id).first()
    if app is not None:
        return app
    if AgentApp.all_orgs.filter(pk=app_id, is_public=True).exists():
        raise PublicAppReadOnly()
    raise AppNotFound()


def agent_app_get_readable(*, organization, app_id: uuid.UUID) -> AgentApp:
    """The organization's own app or any public app (GET app, GET its packages)."""
    app = AgentApp.all_orgs.filter(
        Q(organization=organization) | Q(is_public=True), pk=app_id
    ).first()
    if app is None:
        raise AppNotFound()
    return app


def agent_app_packages(*, agent_app) -> QuerySet:
    return live_packages(Package.all_orgs.filter(agent_app=agent_app))


def package_get(*, agent_app, package_id: uuid.UUID) -> Package:
    package = agent_app_packages(agent_app=agent_app).filter(pk=package_id).first()
    if package is None:
        raise NotFound("Package not found")
    return package


def package_get_live_version(*, agent_app, version: str) -> Package | None:
    """The package holding ``version`` (docs/CONTRACT.md §4: a package being deployed counts, a deleted or
    failed one does not)."""
    return (
        agent_app_packages(agent_app=agent_app)
        .filter(version=version)
        .exclude(status=PackageStatus.FAILED)
        .first()
    )


def package_get_for_download(*, package_id: uuid.UUID) -> Package | None:
    """System read for the signed download link: the link itself is the authorization."""
    return Package.all_orgs.filter(pk=package_id, deleted_at__isnull=True).first()


def signing_key_list(*, organization) -> QuerySet:
    return SigningKey.objects.for_org(organization).order_by("-created_at", "-id")


def signing_key_get(*, organization, key_id: uuid.UUID) -> SigningKey:
    key = SigningKey.objects.for_org(organization).filter(pk=key_id).first()
    if key is None:
        raise NotFound("Signing key not found")
    return key


def signing_public_keys(*, organization) -> list[bytes]:
    return [
        base64.b64decode(k)
        for k in SigningKey.objects.for_org(organization).values_list("public_key", flat=True)
    ]


def app_secret_keys(*, agent_app) -> list[str]:
    """The names of the app's secrets, sorted; nothing is decrypted."""
    return list(
        AppSecret.objects.for_org(agent_app.organization_id)
        .filter(agent_app=agent_app)
        .order_by("key")
        .values_list("key", flat=True)
    )


def app_secrets_get(*, agent_app) -> dict[str, str]:
    """The app's secrets in clear, KEY → value: the environment handed to the runtime at deploy
    (overlaid by the deploy's own ``environment``) and what ``GET …/secrets`` shows."""
    rows = (
        AppSecret.objects.for_org(agent_app.organization_id)
        .filter(agent_app=agent_app)
        .order_by("key")
    )
    return {row.key: secret_decrypt(row.value_encrypted) for row in rows}
