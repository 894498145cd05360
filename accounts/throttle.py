"""Login throttling (docs/CONTRACT.md §2): at most N failed logins per window, per account AND per address.

Counters live in the database (accounts.models.LoginFailure), not the shared cache: a cache evicts
under load, and a flood of anonymous requests used to lift locks that way (docs/DECISIONS.md
"Security state in the database"). Only failures write; a check is one indexed read. Each bucket is
a fixed window that starts at its first failure, so the 429 can say when to retry.
"""

import hashlib
import time
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import LoginFailure
from pixell.errors import RateLimited


def _buckets(*, email: str, address: str) -> list[str]:
    # The account is named by a digest: keys stay short whatever is typed and the table holds no
    # email addresses.
    account = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    return [f"acct:{account}", f"ip:{address}"[:100]]


def _expiry(started: float, window: int) -> datetime:
    return datetime.fromtimestamp(started, tz=UTC) + timedelta(seconds=window)


def login_throttle_check(*, email: str, address: str) -> None:
    """Raises RateLimited (with Retry-After) when either bucket is exhausted."""
    limit = settings.PIXELL_LOGIN_MAX_FAILURES
    window = settings.PIXELL_LOGIN_FAILURE_WINDOW_SECONDS
    now = time.time()
    started = LoginFailure.objects.filter(
        key__in=_buckets(email=email, address=address),
        count__gte=limit,
        window_started_at__gt=now - window,
    ).values_list("window_started_at", flat=True)
    if started:
        retry_after = max(int(max(started) + window - now), 1)
        raise RateLimited(
            "Too many failed login attempts; retry later",
            details={"retry_after": retry_after},
            headers={"Retry-After": str(retry_after)},
        )


def login_failure_record(*, email: str, address: str) -> None:
    window = settings.PIXELL_LOGIN_FAILURE_WINDOW_SECONDS
    for key in _buckets(email=email, address=address):
        _count_failure(key, window)


def _count_failure(key: str, window: int) -> None:
    now = time.time()
    # The row lock makes concurrent failures of one bucket all count; the first failure creates it
    # (a concurrent creator loses the primary-key race and counts on the row instead).
    with transaction.atomic():
        row = LoginFailure.objects.select_for_update().filter(key=key).first()
        if row is None:
            try:
                with transaction.atomic():
                    LoginFailure.objects.create(
                        key=key, count=1, window_started_at=now, expires_at=_expiry(now, window)
                    )
                return
            except IntegrityError:
                row = LoginFailure.objects.select_for_update().get(key=key)
        if row.window_started_at <= now - window:
            row.count, row.window_started_at = 1, now  # the old window ended: a new one starts
        else:
            row.count += 1
        row.expires_at = _expiry(row.window_started_at, window)
        row.save(update_fields=["count", "window_started_at", "expires_at"])


def login_success_record(*, email: str) -> None:
    # The account's counter resets on a correct password; the address's does not, so one known
    # account cannot be used to reset an address that is guessing other accounts' passwords.
    LoginFailure.objects.filter(key=_buckets(email=email, address="")[0]).delete()


def login_failures_prune() -> int:
    """Deletes windows that have ended (the beat schedule runs it)."""
    return LoginFailure.objects.filter(expires_at__lte=timezone.now()).delete()[0]
