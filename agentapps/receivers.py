"""Agent apps' part in what lower apps announce (connected in AgentappsConfig.ready())."""

from django.db import transaction

from agentapps import storage
from agentapps.models import Package


def delete_organization_packages(sender, *, organization, **kwargs) -> None:
    """The organization's package files go after commit: a rolled-back delete keeps them."""
    names = list(Package.all_orgs.filter(organization=organization).values_list("file", flat=True))
    transaction.on_commit(lambda: storage.storage_delete_quietly(names), robust=True)
