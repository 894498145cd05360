"""The role matrix of CONTRACT §3, enforced once in the base view (``OrgScopedAPIView.initial``).

A view states the least role each HTTP method needs; API keys act as ``member`` (or as
``admin`` on the views that say ``api_key_role = Role.ADMIN``: webhooks and app secrets) and are
refused outright on views with ``allow_api_keys = False`` (API keys, members, organization admin).
"""

from organizations.models import Role
from pixell.api.exceptions import PermissionDenied

READ_METHODS = ("GET", "HEAD", "OPTIONS")


def check_role(*, role: str, required: str) -> None:
    if not Role.at_least(role, required):
        raise PermissionDenied(f"This action needs the {required} role")


def require_role(view, required: str) -> None:
    """For rules finer than a method (e.g. owner-only demotion) called from a view."""
    check_role(role=view.role, required=required)
