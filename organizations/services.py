"""Organization writes: creation, settings, membership, invitations, API keys.

API views, dashboard pages, admin actions and tasks all call these. Role rules finer than "this
method needs role X" (who may remove or demote whom, the last owner) live here, next to the write
they guard, so no caller can skip them.
"""

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from organizations.keys import api_key_generate, api_key_hash, api_key_preview, token_hash
from organizations.models import ApiKey, Invitation, Membership, Organization, Role
from organizations.roles import check_role
from organizations.selectors import invitation_get_by_token, invitation_pending_q
from organizations.signals import (
    organization_activity,
    organization_created,
    organization_deleting,
)
from organizations.tasks import invitation_email_send_task
from organizations.versions import organization_changed
from pixell.errors import Conflict, NotFound, PermissionDenied, ValidationError
from pixell.ids import uuid_or_none

INVITATION_LIFETIME = timedelta(days=7)


def _actor_meta(actor) -> dict:
    return {"actor_id": str(actor.pk), "actor_email": actor.email} if actor is not None else {}


# --- organizations ------------------------------------------------------------------------------
def organization_create(*, name: str, owner, signup_credits: int | None = None) -> Organization:
    """A new organization with ``owner`` as its owner, and the signup credits as a ``bonus`` row."""
    credits = settings.PIXELL_SIGNUP_CREDITS if signup_credits is None else signup_credits
    with transaction.atomic():
        org = Organization.objects.create(name=name[:100])
        Membership.objects.create(organization=org, user=owner, role=Role.OWNER)
        # billing listens and writes the signup credits as a ``bonus`` ledger row.
        organization_created.send(
            sender=Organization, organization=org, owner=owner, signup_credits=credits
        )
    return org


def organization_update(
    *,
    organization: Organization,
    actor,
    name: str | None = None,
    require_signed_packages: bool | None = None,
) -> Organization:
    fields = []
    if name is not None:
        organization.name = name
        fields.append("name")
    if require_signed_packages is not None:
        organization.require_signed_packages = require_signed_packages
        fields.append("require_signed_packages")
    if fields:
        # update_fields: never write back a stale credits value read before a concurrent top-up.
        organization.save(update_fields=[*fields, "updated_at"])
        organization_changed(organization.pk)
    return organization


def organization_delete(*, organization: Organization, actor) -> None:
    """Deletes the organization and everything in it (members, invitations, keys, apps, ledger).

    Irreversible; only an owner may do it (checked by the view's role policy). Its stored files
    (packages, usage exports) go after commit, like an app's: a rolled-back delete keeps them.
    """
    with transaction.atomic():
        # The apps that store files for it (agentapps, usage) collect their names now and delete
        # them after commit.
        organization_deleting.send(sender=Organization, organization=organization)
        Organization.objects.filter(pk=organization.pk).delete()
        organization_changed(organization.pk)


def organization_switch(*, user, organization_id) -> Membership:
    """Makes one of the user's organizations their current one (the newest ``chosen_at`` wins)."""
    pk = uuid_or_none(organization_id)
    membership = (
        Membership.objects.select_related("organization")
        .filter(user=user, organization_id=pk)
        .first()
        if pk
        else None
    )
    if membership is None:
        raise NotFound(
            "Organization not found",
            details={"organization_id": ["You are not a member of this organization."]},
        )
    membership.chosen_at = timezone.now()
    membership.save(update_fields=["chosen_at", "updated_at"])
    return membership


# --- members ----------------------------------------------------------------------------------
def _owner_count_locked(organization: Organization) -> int:
    # Locking the organization row serializes every membership change of this organization, so
    # two owners removing each other at once cannot leave it with none.
    Organization.objects.select_for_update().filter(pk=organization.pk).first()
    return Membership.objects.filter(organization=organization, role=Role.OWNER).count()


def member_remove(
    *, organization: Organization, actor, actor_role: str, membership: Membership
) -> None:
    """Removes a member. Anyone may leave; removing others needs admin, removing an admin or an
    owner needs owner; the last owner can never be removed (403)."""
    leaving = actor is not None and membership.user_id == actor.pk
    if not leaving:
        check_role(role=actor_role, required=Role.ADMIN)
        if membership.role in (Role.ADMIN, Role.OWNER):
            check_role(role=actor_role, required=Role.OWNER)
    with transaction.atomic():
        owners = _owner_count_locked(organization)
        current = Membership.objects.filter(pk=membership.pk).first()
        if current is None:
            raise NotFound("Member not found")
        if current.role == Role.OWNER and owners <= 1:
            raise PermissionDenied(
                "The last owner of an organization cannot be removed; transfer ownership or delete the organization"
            )
        current.delete()
        organization_activity.send(
            sender=Organization,
            organization=organization,
            kind="member",
            description=f"{'Left' if leaving else 'Removed'}: {membership.user.email}",
            metadata={
                "action": "left" if leaving else "removed",
                "user_id": str(membership.user_id),
                **_actor_meta(actor),
            },
        )


def member_role_change(
    *, organization: Organization, actor, actor_role: str, membership: Membership, role: str
) -> Membership:
    """Admins may promote members to admin; granting owner, or changing an admin's or owner's
    role, needs owner; the last owner cannot be demoted (403)."""
    check_role(role=actor_role, required=Role.ADMIN)
    if role == Role.OWNER or membership.role in (Role.ADMIN, Role.OWNER):
        check_role(role=actor_role, required=Role.OWNER)
    with transaction.atomic():
        owners = _owner_count_locked(organization)
        current = Membership.objects.select_related("user").filter(pk=membership.pk).first()
        if current is None:
            raise NotFound("Member not found")
        if current.role == role:
            return current
        if current.role == Role.OWNER and owners <= 1:
            raise PermissionDenied(
                "The last owner of an organization cannot be demoted; make someone else owner first"
            )
        previous = current.role
        current.role = role
        current.save(update_fields=["role", "updated_at"])
        organization_activity.send(
            sender=Organization,
            organization=organization,
            kind="member",
            description=f"Role changed: {current.user.email} {previous} → {role}",
            metadata={
                "action": "role_changed",
                "user_id": str(current.user_id),
                "from": previous,
                "to": role,
                **_actor_meta(actor),
            },
        )
    return current


# --- invitations ------------------------------------------------------------------------------
def invitation_create(
    *, organization: Organization, actor, actor_role: str, email: str, role: str
) -> tuple[Invitation, str]:
    """An invitation (7 days) and its token, emailed as a link; only the token's hash is kept.

    Inviting someone again replaces their pending invitation (the old link stops working).
    """
    if role == Role.OWNER:
        check_role(role=actor_role, required=Role.OWNER)  # only owners make owners
    email = email.strip().lower()
    if Membership.objects.filter(organization=organization, user__email__iexact=email).exists():
        raise Conflict(
            "This user is already a member of the organization",
            details={"email": ["Already a member."]},
        )
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        Invitation.objects.for_org(organization).filter(
            invitation_pending_q(now), email__iexact=email
        ).update(revoked_at=now)
        invitation = Invitation.objects.for_org(organization).create(
            organization=organization,
            email=email,
            role=role,
            token_hash=token_hash(token),
            invited_by=actor,
            expires_at=now + INVITATION_LIFETIME,
        )
        organization_activity.send(
            sender=Organization,
            organization=organization,
            kind="member",
            description=f"Invited {email} as {role}",
            metadata={
                "action": "invited",
                "invitation_id": str(invitation.pk),
                "email": email,
                "role": role,
                **_actor_meta(actor),
            },
        )
        # The raw token exists only here and in the email: it travels to the worker in the task
        # message because the database keeps just its hash.
        transaction.on_commit(lambda: invitation_email_send_task.delay(str(invitation.pk), token))
    return invitation, token


def invitation_revoke(*, invitation: Invitation, actor) -> Invitation:
    if invitation.accepted_at is not None:
        raise Conflict("This invitation has already been accepted")
    if invitation.revoked_at is None:
        with transaction.atomic():
            Invitation.all_orgs.filter(pk=invitation.pk, revoked_at__isnull=True).update(
                revoked_at=timezone.now()
            )
            organization_activity.send(
                sender=Organization,
                organization=invitation.organization,
                kind="member",
                description=f"Invitation of {invitation.email} revoked",
                metadata={
                    "action": "invitation_revoked",
                    "invitation_id": str(invitation.pk),
                    **_actor_meta(actor),
                },
            )
        invitation.refresh_from_db(fields=["revoked_at"])
    return invitation


def _invalid_token(message: str) -> ValidationError:
    return ValidationError(f"token: {message}", details={"token": [message]})


def invitation_check_usable(*, invitation: Invitation, now=None) -> None:
    """An invitation can be accepted while it is neither revoked, nor used, nor expired: the one
    place of that rule for the API and the invitation page (``invitation_pending_q`` is the same
    rule as a query). Raises the ValidationError on ``token`` that the API answers."""
    if invitation.revoked_at is not None:
        raise _invalid_token("This invitation has been revoked.")
    if invitation.accepted_at is not None:
        raise _invalid_token("This invitation has already been used.")
    if invitation.expires_at <= (now or timezone.now()):
        raise _invalid_token("This invitation has expired.")


def invitation_accept(*, token: str, user) -> Membership:
    """Joins the invitation's organization. The user's current organization does not change: a
    token used without X-Organization-Id must keep acting where it did (header, else the last
    explicit switch, else the oldest membership); the dashboard offers the switch."""
    invitation = invitation_get_by_token(token=token)
    if invitation is None:
        raise _invalid_token("Invalid invitation token.")
    now = timezone.now()
    invitation_check_usable(invitation=invitation, now=now)
    if invitation.email.lower() != user.email.lower():
        raise PermissionDenied("This invitation was sent to a different email address")
    if Membership.objects.filter(organization_id=invitation.organization_id, user=user).exists():
        raise Conflict("You are already a member of this organization")
    try:
        with transaction.atomic():
            # Compare-and-set: of two concurrent accepts of one token, exactly one marks it used.
            claimed = (
                Invitation.all_orgs.filter(pk=invitation.pk)
                .filter(invitation_pending_q(now))
                .update(accepted_at=now, accepted_by=user)
            )
            if claimed != 1:
                raise _invalid_token("This invitation has already been used.")
            membership = Membership.objects.create(
                organization=invitation.organization, user=user, role=invitation.role
            )
            organization_activity.send(
                sender=Organization,
                organization=invitation.organization,
                kind="member",
                description=f"Joined: {user.email} as {invitation.role}",
                metadata={
                    "action": "joined",
                    "invitation_id": str(invitation.pk),
                    "user_id": str(user.pk),
                    "role": invitation.role,
                },
            )
    except IntegrityError as exc:  # joined through another invitation at the same moment
        raise Conflict("You are already a member of this organization") from exc
    return membership


# --- API keys ---------------------------------------------------------------------------------
def api_key_create(*, organization: Organization, name: str, actor=None) -> tuple[ApiKey, str]:
    """Returns the key row and the full key, which is shown once and never stored."""
    raw = api_key_generate()
    with transaction.atomic():
        key = ApiKey.objects.for_org(organization).create(
            organization=organization,
            name=name,
            key_hash=api_key_hash(raw),
            key_preview=api_key_preview(raw),
            created_by=actor,
        )
        organization_activity.send(
            sender=Organization,
            organization=organization,
            kind="api_key",
            description=f"API key created: {name}",
            metadata={"action": "created", "api_key_id": str(key.pk), **_actor_meta(actor)},
        )
    return key, raw


def api_key_rotate(*, api_key: ApiKey, actor=None) -> tuple[ApiKey, str]:
    """New key material; the old key fails at once (its hash is gone)."""
    raw = api_key_generate()
    with transaction.atomic():
        api_key.key_hash = api_key_hash(raw)
        api_key.key_preview = api_key_preview(raw)
        api_key.rotated_at = timezone.now()
        api_key.save(update_fields=["key_hash", "key_preview", "rotated_at", "updated_at"])
        organization_changed(api_key.organization_id)
        organization_activity.send(
            sender=Organization,
            organization=api_key.organization,
            kind="api_key",
            description=f"API key rotated: {api_key.name}",
            metadata={"action": "rotated", "api_key_id": str(api_key.pk), **_actor_meta(actor)},
        )
    return api_key, raw


def api_key_delete(*, api_key: ApiKey, actor=None) -> None:
    """The key fails at once: authentication looks keys up by hash, and the row is gone."""
    with transaction.atomic():
        ApiKey.all_orgs.filter(pk=api_key.pk).delete()
        organization_changed(api_key.organization_id)
        organization_activity.send(
            sender=Organization,
            organization=api_key.organization,
            kind="api_key",
            description=f"API key deleted: {api_key.name}",
            metadata={
                "action": "deleted",
                "api_key_id": str(api_key.pk),
                "key_preview": api_key.key_preview,
                **_actor_meta(actor),
            },
        )
