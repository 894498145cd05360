"""Deployments' part in what lower apps announce (connected in DeploymentsConfig.ready())."""

from agentapps.errors import AppBeingDeployed
from deployments.models import Deployment, DeploymentStatus
from deployments.queue import deployment_cancel_queued


def cancel_app_deployments(sender, *, agent_app, **kwargs) -> None:
    """Before an app is deleted: its queued deployments are cancelled, which refunds their reserved
    credits (the rows would otherwise vanish in the cascade with the money); while one is running
    the app cannot be deleted (409, the delete rolls back), as its worker is mid-step."""
    unfinished = Deployment.all_orgs.filter(
        agent_app=agent_app, status__in=[DeploymentStatus.QUEUED, DeploymentStatus.PROCESSING]
    )
    for deployment_id, status in unfinished.values_list("id", "status"):
        # A False cancel means a worker claimed it meanwhile: running, so refuse (and roll back).
        if status == DeploymentStatus.PROCESSING or not deployment_cancel_queued(
            deployment_id=deployment_id
        ):
            raise AppBeingDeployed()
