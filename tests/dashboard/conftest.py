"""Dashboard fixtures: browser-session clients per role (Django's test Client, signed in through
the session like the /login/ page does)."""

import pytest
from django.test import Client

from agentapps.services import agent_app_create


def session_client(user=None, *, enforce_csrf_checks: bool = False) -> Client:
    client = Client(enforce_csrf_checks=enforce_csrf_checks)
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def owner_page(owner, org):
    return session_client(owner)


@pytest.fixture
def admin_page(admin_user):
    return session_client(admin_user)


@pytest.fixture
def member_page(member_user):
    return session_client(member_user)


@pytest.fixture
def other_page(other_owner, other_org):
    return session_client(other_owner)


@pytest.fixture
def anon_page():
    return session_client()


@pytest.fixture
def app(org, owner):
    return agent_app_create(
        organization=org, actor=owner, name="support-bot", description="Answers tickets"
    )


@pytest.fixture
def other_app(other_org, other_owner):
    return agent_app_create(organization=other_org, actor=other_owner, name="their-bot")


@pytest.fixture
def deployment(org, owner, app, django_capture_on_commit_callbacks):
    """A queued deployment of ``app`` (the pipeline's nudge is not run)."""
    from deployments.services import deployment_create
    from tests.agentapps.packages import apkg_bytes, upload

    with django_capture_on_commit_callbacks(execute=False):
        result = deployment_create(
            organization=org,
            agent_app=app,
            actor=owner,
            upload=upload(apkg_bytes("0.9.0")),
            version=None,
        )
    return result.deployment


@pytest.fixture
def other_deployment(other_org, other_owner, other_app, django_capture_on_commit_callbacks):
    from deployments.services import deployment_create
    from tests.agentapps.packages import apkg_bytes, upload

    with django_capture_on_commit_callbacks(execute=False):
        result = deployment_create(
            organization=other_org,
            agent_app=other_app,
            actor=other_owner,
            upload=upload(apkg_bytes("0.9.0")),
            version=None,
        )
    return result.deployment
