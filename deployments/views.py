"""Dashboard pages of deployments: the organization's list, one deployment's steps, cancel.

Thin: reads are deployments.selectors, the cancel is the service the API calls.
"""

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.urls import reverse

from deployments import selectors as deployment_selectors
from deployments import services as deployment_services
from deployments.models import STEP_NAMES, DeploymentStatus
from deployments.presenters import current_step_name
from pixell.api.viewsets import dashboard_render, dashboard_view
from pixell.errors import PixellError

DEPLOYMENTS_PAGE = 25
# A queued or running deployment's page reloads itself this often (seconds): no JavaScript needed.
REFRESH_SECONDS = 3


def deployment_url(deployment) -> str:
    return reverse("dashboard-deployment", args=[deployment.pk])


@dashboard_view(methods=["GET"])
def deployments_page(request, tenancy):
    rows, next_cursor = deployment_selectors.deployment_list_for_organization(
        organization=tenancy.organization, cursor=request.GET.get("cursor"), limit=DEPLOYMENTS_PAGE
    )
    positions = deployment_selectors.queue_positions(rows)
    for deployment in rows:
        deployment.queue_position = positions.get(deployment.id)
    return dashboard_render(
        request,
        "deployments/deployments.html",
        {
            "deployments": rows,
            "next_cursor": next_cursor,
            "first_page": not request.GET.get("cursor"),
        },
    )


@dashboard_view(methods=["GET"])
def deployment_page(request, tenancy, deployment_id):
    deployment = deployment_selectors.deployment_get(
        organization=tenancy.organization, deployment_id=deployment_id
    )
    steps = list(deployment.steps.all())
    running = deployment.status in (DeploymentStatus.QUEUED, DeploymentStatus.PROCESSING)
    context = {
        "deployment": deployment,
        "app": deployment.agent_app,
        "steps": steps,
        "step_count": len(STEP_NAMES),
        "current_step": current_step_name(deployment, steps),
        "queue_position": deployment_selectors.queue_position(deployment),
        "refresh_seconds": REFRESH_SECONDS if running else None,
        "can_cancel": deployment.status == DeploymentStatus.QUEUED,
    }
    return dashboard_render(request, "deployments/deployment.html", context)


@dashboard_view(methods=["POST"])
def deployment_cancel(request, tenancy, deployment_id):
    # Members may cancel, like the API (docs/DECISIONS.md: cancel is open to members and API keys).
    deployment = deployment_selectors.deployment_get(
        organization=tenancy.organization, deployment_id=deployment_id
    )
    try:
        deployment = deployment_services.deployment_cancel(
            deployment=deployment, actor=tenancy.user
        )
    except PixellError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Deployment cancelled; {deployment.cost:,} credits refunded.")
    return HttpResponseRedirect(deployment_url(deployment))
