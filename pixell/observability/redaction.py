"""The one place that knows which URL parts are secrets, for every log that records a path
(the request log line here; gunicorn's access log uses the same function).

Links mailed to people carry their credential in the path: password reset (uid and token),
e-mail verification keys, invitation tokens and usage-export download tokens. Anyone who can read
the logs must not be able to use them, so those segments are replaced by ``[redacted]``.
"""

import re

REDACTED = "[redacted]"

# prefix (kept) + the secret segments (replaced). Paths are the dashboard routes in
# accounts/urls.py, organizations/urls.py and usage/urls.py.
_SECRET_PATHS = (
    (re.compile(r"^(/reset-password/)[^/]+/[^/]+"), rf"\g<1>{REDACTED}/{REDACTED}"),
    (re.compile(r"^(/verify-email/)[^/]+"), rf"\g<1>{REDACTED}"),
    (re.compile(r"^(/invitations/)[^/]+"), rf"\g<1>{REDACTED}"),
    (re.compile(r"^(/usage/exports/)[^/]+"), rf"\g<1>{REDACTED}"),
)
# Query parameters whose values are credentials wherever they appear.
_SECRET_QUERY = re.compile(
    r"(?i)([?&](?:token|key|uid|code|signature|password|secret|api_key|access_token)=)[^&#]*"
)


def redact_path(path: str) -> str:
    """``path`` (optionally with its query string) with every credential replaced."""
    for pattern, replacement in _SECRET_PATHS:
        path, count = pattern.subn(replacement, path, count=1)
        if count:
            break
    if "?" in path:
        path = _SECRET_QUERY.sub(rf"\g<1>{REDACTED}", path)
    return path
