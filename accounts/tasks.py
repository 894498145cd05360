"""Account emails, sent by the worker. Tasks take ids and are safe to run twice."""

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

# The module, not its names: services enqueue this module's mail tasks (services → tasks →
# services), and a module is bound whichever of the two Python imports first.
from accounts import services, tokens
from accounts.models import User

_RETRY = {"autoretry_for": (OSError,), "retry_backoff": True, "max_retries": 5}


@shared_task(**_RETRY)
def email_verification_send_task(user_id: str) -> None:
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or user.email_verified:
        return
    link = f"{settings.PIXELL_PUBLIC_URL}/verify-email/{tokens.email_verification_key_make(user=user)}/"
    _send(
        user=user,
        subject="Verify your email address",
        template="emails/verify_email.txt",
        context={"link": link},
    )


@shared_task(**_RETRY)
def password_reset_send_task(user_id: str) -> None:
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return
    uid = tokens.password_reset_uid_make(user=user)
    token = tokens.password_reset_token_make(user=user)
    link = f"{settings.PIXELL_PUBLIC_URL}/reset-password/{uid}/{token}/"
    _send(
        user=user,
        subject="Reset your password",
        template="emails/password_reset.txt",
        context={"link": link},
    )


def _send(*, user: User, subject: str, template: str, context: dict) -> None:
    body = render_to_string(template, {"user": user, **context})
    send_mail(f"Pixell Agent Cloud: {subject}", body, settings.DEFAULT_FROM_EMAIL, [user.email])


@shared_task
def security_state_prune_task() -> int:
    """Deletes expired token revocations and ended login-failure windows (hourly, beat)."""
    return services.security_state_prune()


@shared_task(ignore_result=True, time_limit=900, soft_time_limit=840)
def auth_tokens_purge_task() -> int:
    """Beat, hourly: refresh tokens (and their blacklist entries) past expiry."""
    return services.auth_tokens_purge()
