"""The operators' overview on the admin index (docs/OPERATIONS.md): the queue, recent failures,
the webhook backlog and this month's credits, each linking to the filtered admin list.

It composes deployments and billing, so it lives in the top floor (deployments) and only reads.
"""

from datetime import timedelta
from urllib.parse import urlencode

from django.db.models import Min, Sum
from django.urls import reverse
from django.utils import timezone

from billing.models import CreditTransaction, TransactionType
from deployments.models import DeliveryStatus, Deployment, DeploymentStatus, WebhookDelivery


def _admin_list(model, **filters) -> str:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return f"{url}?{urlencode(filters)}" if filters else url


def _admin_time(moment) -> str:
    # The admin's changelist takes lookups on a model's own fields as query parameters; with
    # its offset the value is not read as a naive local time.
    return moment.replace(microsecond=0).isoformat()


def operations_overview(*, now=None) -> list[dict]:
    """Rows of {label, value, url}: each one indexed query (or a sum over one month)."""
    now = now or timezone.now()
    queued = Deployment.all_orgs.filter(status=DeploymentStatus.QUEUED)
    oldest = queued.aggregate(oldest=Min("queued_at"))["oldest"]
    day_ago = now - timedelta(hours=24)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    month = CreditTransaction.all_orgs.filter(created_at__gte=month_start)
    sold = month.filter(type=TransactionType.PURCHASE).aggregate(s=Sum("amount"))["s"] or 0
    used = month.filter(type=TransactionType.USAGE).aggregate(s=Sum("amount"))["s"] or 0
    refunded = month.filter(type=TransactionType.REFUND).aggregate(s=Sum("amount"))["s"] or 0
    return [
        {
            "label": "Deployments queued",
            "value": queued.count(),
            "url": _admin_list(Deployment, status__exact=DeploymentStatus.QUEUED),
        },
        {
            "label": "Oldest queued deployment waiting",
            "value": _duration((now - oldest).total_seconds()) if oldest else "none waiting",
            "url": _admin_list(Deployment, status__exact=DeploymentStatus.QUEUED),
        },
        {
            "label": "Deployments processing",
            "value": Deployment.all_orgs.filter(status=DeploymentStatus.PROCESSING).count(),
            "url": _admin_list(Deployment, status__exact=DeploymentStatus.PROCESSING),
        },
        {
            "label": "Deployments failed in the last 24 h",
            "value": Deployment.all_orgs.filter(
                status=DeploymentStatus.FAILED, completed_at__gte=day_ago
            ).count(),
            "url": _admin_list(
                Deployment,
                status__exact=DeploymentStatus.FAILED,
                completed_at__gte=_admin_time(day_ago),
            ),
        },
        {
            "label": "Webhook deliveries pending",
            "value": WebhookDelivery.all_orgs.filter(status=DeliveryStatus.PENDING).count(),
            "url": _admin_list(WebhookDelivery, status__exact=DeliveryStatus.PENDING),
        },
        {
            "label": f"Credits sold in {month_start:%B %Y}",
            "value": sold,
            "url": _admin_list(
                CreditTransaction,
                type__exact=TransactionType.PURCHASE,
                created_at__gte=_admin_time(month_start),
            ),
        },
        {
            "label": f"Credits used in {month_start:%B %Y} (net of {refunded} refunded)",
            "value": -used - refunded if used else 0,
            "url": _admin_list(
                CreditTransaction,
                type__exact=TransactionType.USAGE,
                created_at__gte=_admin_time(month_start),
            ),
        },
    ]


def _duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
