"""Organization reads. Every object lookup is scoped to the caller's organization; a malformed id
or another organization's object is the same NotFound."""

import functools
import uuid

from django.db import connection
from django.db.models import F, Q
from django.utils import timezone

from organizations.keys import token_hash
from organizations.models import ApiKey, Invitation, Membership, Organization
from pixell.errors import NotFound


def memberships_of(user):
    """A user's memberships, the current one first."""
    return (
        Membership.objects.filter(user=user)
        .select_related("organization")
        .order_by(F("chosen_at").desc(nulls_last=True), "created_at", "id")
    )


def organization_memberships_of_user(*, user):
    """The user's memberships, oldest first, with their organizations."""
    return (
        Membership.objects.filter(user=user)
        .select_related("organization")
        .order_by("created_at", "id")
    )


def membership_list(*, organization: Organization):
    return (
        Membership.objects.filter(organization=organization)
        .select_related("user")
        .order_by("created_at", "id")
    )


def membership_get(*, organization: Organization, user_id: uuid.UUID) -> Membership:
    membership = (
        Membership.objects.filter(organization=organization, user_id=user_id)
        .select_related("user")
        .first()
    )
    if membership is None:
        raise NotFound("Member not found")
    return membership


def invitation_pending_q(now=None) -> Q:
    """Invitations that can still be accepted, as a query: the rule of
    ``services.invitation_check_usable``."""
    now = now or timezone.now()
    return Q(accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now)


def invitation_list_pending(*, organization: Organization):
    return (
        Invitation.objects.for_org(organization)
        .filter(invitation_pending_q())
        .select_related("invited_by")
        .order_by("-created_at", "-id")
    )


def invitation_get(*, organization: Organization, invitation_id: uuid.UUID) -> Invitation:
    invitation = Invitation.objects.for_org(organization).filter(pk=invitation_id).first()
    if invitation is None:
        raise NotFound("Invitation not found")
    return invitation


def invitation_get_by_token(*, token: str) -> Invitation | None:
    # A token names its organization by itself: looking it up across organizations is the point.
    return (
        Invitation.all_orgs.select_related("organization", "invited_by")
        .filter(token_hash=token_hash(token))
        .first()
    )


def api_key_list(*, organization: Organization):
    return ApiKey.objects.for_org(organization).order_by("-created_at", "-id")


def api_key_get(*, organization: Organization, key_id: uuid.UUID) -> ApiKey:
    key = ApiKey.objects.for_org(organization).filter(pk=key_id).first()
    if key is None:
        raise NotFound("API key not found")
    return key


@functools.cache
def _api_key_lookup_plan():
    """The SQL of ``api_key_get_by_hash`` and the converters of its columns, built once.

    The ORM's query compilation (select_related, ordering, converters lookup) cost about 0.4 ms of
    CPU on every API-key request — more than the query itself — on the path every CI call takes.
    The statement is fixed, so it is compiled by hand once, from the models' own metadata.
    """
    qn = connection.ops.quote_name
    key_fields, org_fields = ApiKey._meta.concrete_fields, Organization._meta.concrete_fields
    columns = [f"k.{qn(f.column)}" for f in key_fields] + [f"o.{qn(f.column)}" for f in org_fields]
    sql = (
        f"SELECT {', '.join(columns)} FROM {qn(ApiKey._meta.db_table)} k "
        f"INNER JOIN {qn(Organization._meta.db_table)} o ON o.{qn(Organization._meta.pk.column)} = k.{qn('organization_id')} "
        f"WHERE k.{qn('key_hash')} = %s"
    )
    fields = [*key_fields, *org_fields]
    # What the SQL compiler applies to each selected column (UUIDs and datetimes on SQLite, a
    # foreign key's target type...), so the objects equal the ORM's.
    columns = [field.get_col(field.model._meta.db_table) for field in fields]
    converters = [
        (col, connection.ops.get_db_converters(col) + col.get_db_converters(connection))
        for col in columns
    ]
    return sql, fields, converters, len(key_fields)


def api_key_get_by_hash(*, key_hash: str) -> ApiKey | None:
    """The API key with this hash and its organization (``key.organization`` costs no query), or None.

    System lookup across organizations: the key itself is the credential that names its organization.
    """
    sql, fields, converters, split = _api_key_lookup_plan()
    with connection.cursor() as cursor:
        cursor.execute(sql, [key_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    values = []
    for value, (col, column_converters) in zip(row, converters, strict=False):
        for convert in column_converters:
            value = convert(value, col, connection)
        values.append(value)
    key = ApiKey.from_db(connection.alias, [f.attname for f in fields[:split]], values[:split])
    organization = Organization.from_db(
        connection.alias, [f.attname for f in fields[split:]], values[split:]
    )
    ApiKey.organization.field.set_cached_value(key, organization)
    return key


# Plain-value copies of a key and its organization, for the per-process identity cache
# (pixell.api.authentication): model instances are rebuilt per request, never shared.
def api_key_snapshot(key: ApiKey) -> tuple:
    organization = key.organization
    return (
        tuple(getattr(key, f.attname) for f in ApiKey._meta.concrete_fields),
        tuple(getattr(organization, f.attname) for f in Organization._meta.concrete_fields),
    )


def api_key_snapshot_with(snapshot: tuple, *, last_used_at) -> tuple:
    key_values, org_values = snapshot
    names = [f.attname for f in ApiKey._meta.concrete_fields]
    key_values = tuple(
        last_used_at if name == "last_used_at" else value
        for name, value in zip(names, key_values, strict=False)
    )
    return key_values, org_values


def api_key_from_snapshot(snapshot: tuple) -> ApiKey:
    key_values, org_values = snapshot
    key = ApiKey.from_db(
        connection.alias, [f.attname for f in ApiKey._meta.concrete_fields], list(key_values)
    )
    organization = Organization.from_db(
        connection.alias, [f.attname for f in Organization._meta.concrete_fields], list(org_values)
    )
    ApiKey.organization.field.set_cached_value(key, organization)
    return key
