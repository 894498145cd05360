"""Resend-verification and password-reset answer 200 to anyone; the per-recipient quota keeps them
from being used to flood a user's inbox (django-ratelimit counters)."""

import pytest
from django.core import mail

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_password_reset_mails_stop_at_the_quota_but_answers_stay_200(
    anon_client, owner, django_capture_on_commit_callbacks
):
    for _ in range(8):
        with django_capture_on_commit_callbacks(execute=True):
            response = anon_client.post(
                "/api/auth/password/reset", {"email": owner.email}, format="json"
            )
        assert response.status_code == 200
    assert len(mail.outbox) == 5


def test_verification_resend_quota_is_per_recipient(
    anon_client, django_capture_on_commit_callbacks
):
    first = UserFactory(email="first@example.com", email_verified_at=None)
    second = UserFactory(email="second@example.com", email_verified_at=None)
    for _ in range(6):
        with django_capture_on_commit_callbacks(execute=True):
            assert (
                anon_client.post(
                    "/api/auth/resend-verification", {"email": first.email.upper()}, format="json"
                ).status_code
                == 200
            )
    with django_capture_on_commit_callbacks(execute=True):
        anon_client.post("/api/auth/resend-verification", {"email": second.email}, format="json")
    recipients = [message.to[0] for message in mail.outbox]
    assert recipients.count("first@example.com") == 5
    assert recipients.count("second@example.com") == 1
