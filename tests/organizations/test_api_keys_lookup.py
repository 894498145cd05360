"""The hand-compiled API-key lookup returns the same objects the ORM would."""

import pytest

from organizations.keys import api_key_hash
from organizations.models import ApiKey
from organizations.selectors import api_key_get_by_hash

pytestmark = pytest.mark.django_db


def test_lookup_matches_the_orm_and_needs_one_query(api_key, org, django_assert_num_queries):
    with django_assert_num_queries(1):
        found = api_key_get_by_hash(key_hash=api_key_hash(api_key.raw))
        organization = found.organization  # cached by the join: no second query
    expected = ApiKey.all_orgs.select_related("organization").get(pk=api_key.pk)
    for field in ApiKey._meta.concrete_fields:
        assert getattr(found, field.attname) == getattr(expected, field.attname), field.name
    assert organization.pk == org.pk
    assert organization.name == org.name
    assert organization.credits == 100
    assert organization.created_at == expected.organization.created_at
    assert found._state.adding is False


def test_unknown_hash_is_none(db):
    assert api_key_get_by_hash(key_hash="0" * 64) is None


def test_current_payload_equals_its_documented_serializer(org):
    from organizations.api.serializers import (
        OrganizationCurrentOutputSerializer,
        organization_current_payload,
    )

    org.refresh_from_db()
    expected = OrganizationCurrentOutputSerializer({"organization": org, "role": "owner"}).data
    assert organization_current_payload(org, "owner") == expected
