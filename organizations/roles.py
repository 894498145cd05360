"""The role check every entry point shares: roles are ordered member < admin < owner (``Role.rank``).

The API's base view states the least role each HTTP method needs and calls ``check_role`` once in
``initial``; API keys act as ``member`` (or as ``admin`` on views that say
``api_key_role = Role.ADMIN``: webhooks and app secrets). Services call it for rules finer than a
method (e.g. only owners make owners). See docs/CONTRACT.md §3.
"""

from organizations.models import Role
from pixell.errors import PermissionDenied


def check_role(*, role: str, required: str) -> None:
    if not Role.at_least(role, required):
        raise PermissionDenied(f"This action needs the {required} role")
