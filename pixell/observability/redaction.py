"""The one place that knows which URL parts are secrets, for every log that records a path
(the request log line here; gunicorn's access log uses the same function).

Links mailed to people carry their credential in the path: password reset (uid and token),
e-mail verification keys, invitation tokens and usage-export download tokens. Anyone who can read
the logs must not be able to use them, so those segments are replaced by ``[redacted]``.
"""

import re
from urllib.parse import quote, unquote, urlsplit, urlunsplit

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
    r"(?i)([?&](?:token|key|uid|code|sig|signature|password|secret|api_key|access_token|x-amz-signature|x-amz-credential|x-amz-security-token)=)[^&#]*"
)


def _redact_path_only(path: str) -> str:
    for pattern, replacement in _SECRET_PATHS:
        path, count = pattern.subn(replacement, path, count=1)
        if count:
            break
    return path


def _redact_query_value(parameter: str) -> str:
    # A parameter whose value is one of our secret paths, e.g. the sign-in link of an invitation
    # page: /login/?next=%2Finvitations%2F<token>%2F.
    name, sep, value = parameter.partition("=")
    if not sep or not value:
        return parameter
    plain = unquote(value)
    if not plain.startswith("/"):
        return parameter
    redacted = _redact_path_only(plain)
    return parameter if redacted == plain else f"{name}={quote(redacted, safe='/[]')}"


def redact_path(path: str) -> str:
    """``path`` (optionally with its query string) with every credential replaced."""
    path, sep, query = path.partition("?")
    path = _redact_path_only(path)
    if not sep:
        return path
    query = "&".join(_redact_query_value(part) for part in query.split("&"))
    return _SECRET_QUERY.sub(rf"\g<1>{REDACTED}", f"{path}?{query}")


def redact_url(url: str) -> str:
    """An absolute URL (a ``Referer``) or a path, with every credential replaced: a page opened
    from a mailed link names that link in the Referer of every request it makes next."""
    if url.startswith("/"):
        return redact_path(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    if not parts.scheme:
        return redact_path(url)
    target = redact_path(parts.path + (f"?{parts.query}" if parts.query else ""))
    path, _, query = target.partition("?")
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))
