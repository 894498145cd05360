"""Login throttling (CONTRACT §2): at most N failed logins per window, per account AND per address.

Counters live in the shared cache (not the database) so that a password-guessing burst costs no
writes. Each bucket is a fixed window that starts at its first failure; the window's start is kept
beside the counter so the 429 can say when to retry.
"""

import hashlib
import time

from django.conf import settings
from django.core.cache import cache

from pixell.api.exceptions import RateLimited


def _buckets(*, email: str, address: str) -> list[str]:
    # The account is named by a digest: keys stay short whatever is typed (cache backends limit key
    # length) and the shared cache holds no email addresses.
    account = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    return [f"login-fail:acct:{account}", f"login-fail:ip:{address}"]


def login_throttle_check(*, email: str, address: str) -> None:
    """Raises RateLimited (with Retry-After) when either bucket is exhausted."""
    limit = settings.PIXELL_LOGIN_MAX_FAILURES
    window = settings.PIXELL_LOGIN_FAILURE_WINDOW_SECONDS
    now = time.time()
    for bucket in _buckets(email=email, address=address):
        count = cache.get(bucket, 0)
        if count >= limit:
            started = cache.get(f"{bucket}:start", now)
            retry_after = max(int(started + window - now), 1)
            raise RateLimited(
                "Too many failed login attempts; retry later",
                details={"retry_after": retry_after},
                headers={"Retry-After": str(retry_after)},
            )


def login_failure_record(*, email: str, address: str) -> None:
    window = settings.PIXELL_LOGIN_FAILURE_WINDOW_SECONDS
    now = time.time()
    for bucket in _buckets(email=email, address=address):
        # add() only writes when absent, so the first failure opens the window; incr() is atomic
        # on Redis, so concurrent failures are all counted.
        if cache.add(bucket, 0, timeout=window):
            cache.set(f"{bucket}:start", now, timeout=window)
        try:
            cache.incr(bucket)
        except ValueError:  # expired between add() and incr()
            cache.set(bucket, 1, timeout=window)
            cache.set(f"{bucket}:start", now, timeout=window)


def login_success_record(*, email: str) -> None:
    # The account's counter resets on a correct password; the address's does not, so one known
    # account cannot be used to reset an address that is guessing other accounts' passwords.
    bucket = _buckets(email=email, address="")[0]
    cache.delete_many([bucket, f"{bucket}:start"])
