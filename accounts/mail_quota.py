"""How many account emails one address may receive: resend-verification and password-reset answer
200 to anyone (no account enumeration), so without a quota they would let anyone mail-bomb a user.

Counted per recipient with django-ratelimit (fixed windows in the shared cache). Over the quota the
mail is silently not sent — the API still answers 200, so the quota reveals nothing either.
"""

import logging

from django_ratelimit.core import get_usage

logger = logging.getLogger(__name__)

# Enough for a person retrying; far too few to flood an inbox.
ACCOUNT_MAILS_PER_HOUR = "5/h"


def account_mail_allowed(*, purpose: str, email: str) -> bool:
    usage = get_usage(
        None,
        group=f"account-mail:{purpose}",
        key=lambda group, request: email.strip().lower(),
        rate=ACCOUNT_MAILS_PER_HOUR,
        increment=True,
    )
    if usage is not None and usage["should_limit"]:
        logger.warning(
            "Not sending %s mail: quota of %s per recipient reached",
            purpose,
            ACCOUNT_MAILS_PER_HOUR,
        )
        return False
    return True
