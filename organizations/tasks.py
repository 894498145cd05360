"""Organization emails, sent by the worker."""

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

from organizations.models import Invitation


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def invitation_email_send_task(invitation_id: str, token: str) -> None:
    invitation = (
        Invitation.all_orgs.select_related("organization", "invited_by")
        .filter(pk=invitation_id)
        .first()
    )
    if (
        invitation is None
        or invitation.accepted_at is not None
        or invitation.revoked_at is not None
    ):
        return  # revoked or used before the worker got to it: the link would not work anyway
    link = f"{settings.PIXELL_PUBLIC_URL}/invitations/{token}/"
    body = render_to_string("emails/invitation.txt", {"invitation": invitation, "link": link})
    send_mail(
        f"Pixell Agent Cloud: join {invitation.organization.name}",
        body,
        settings.DEFAULT_FROM_EMAIL,
        [invitation.email],
    )
