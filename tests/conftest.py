"""Shared fixtures: an organization with a user per role, a foreign organization, API clients."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from organizations.models import Role
from organizations.services import organization_create
from pixell.celery import app as celery_app
from tests.factories import MembershipFactory, UserFactory, api_key_for


@pytest.fixture(autouse=True)
def _isolated_cache_and_eager_tasks(settings):
    # Rate-limit and throttle counters must not leak between tests.
    cache.clear()
    # Tasks enqueued with on_commit run inline when a test runs the captured callbacks.
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    cache.clear()


def client_for(user=None, *, api_key: str | None = None, org=None) -> APIClient:
    client = APIClient()
    if api_key:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    elif user is not None:
        token = RefreshToken.for_user(user).access_token
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
        if org is not None:
            headers["HTTP_X_ORGANIZATION_ID"] = str(org.id)
        client.credentials(**headers)
    return client


@pytest.fixture
def owner(db):
    return UserFactory(email="owner@example.com")


@pytest.fixture
def org(owner):
    return organization_create(name="Acme", owner=owner)


@pytest.fixture
def admin_user(org):
    return MembershipFactory(
        organization=org, role=Role.ADMIN, user=UserFactory(email="admin@example.com")
    ).user


@pytest.fixture
def member_user(org):
    return MembershipFactory(
        organization=org, role=Role.MEMBER, user=UserFactory(email="member@example.com")
    ).user


@pytest.fixture
def other_owner(db):
    return UserFactory(email="other@example.com")


@pytest.fixture
def other_org(other_owner):
    return organization_create(name="Other Corp", owner=other_owner)


@pytest.fixture
def owner_client(owner, org):
    return client_for(owner)


@pytest.fixture
def admin_client(admin_user):
    return client_for(admin_user)


@pytest.fixture
def member_client(member_user):
    return client_for(member_user)


@pytest.fixture
def api_key(org):
    key, raw = api_key_for(org)
    key.raw = raw
    return key


@pytest.fixture
def api_key_client(api_key):
    return client_for(api_key=api_key.raw)


@pytest.fixture
def other_client(other_owner, other_org):
    return client_for(other_owner)


@pytest.fixture
def anon_client():
    return APIClient()


@pytest.fixture
def role_clients(owner_client, admin_client, member_client, api_key_client):
    return {
        "owner": owner_client,
        "admin": admin_client,
        "member": member_client,
        "api_key": api_key_client,
    }
