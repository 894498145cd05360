from datetime import UTC, datetime

from django.db.models import Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from billing.models import CreditTransaction, TransactionType
from organizations.models import Organization


def ledger_drift() -> list[tuple[Organization, int, int]]:
    """Organizations whose balance differs from the sum of their ledger rows: (org, balance, sum)."""
    sums = dict(
        CreditTransaction.all_orgs.values("organization_id")
        .annotate(total=Sum("amount"))
        .values_list("organization_id", "total")
    )
    drift = []
    for org in Organization.objects.only("id", "name", "credits").iterator():
        total = sums.get(org.id) or 0
        if total != org.credits:
            drift.append((org, org.credits, total))
    return drift


def credits_balance_summary(*, organization: Organization, now: datetime | None = None) -> dict:
    """The balance, credits spent this UTC calendar month and the last purchase time.

    ``usage_this_month`` = credits of this month's ``usage`` rows minus this month's ``refund``
    rows (a deployment that failed and was refunded used nothing), never below zero.
    """
    now = now or timezone.now()
    month_start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    ledger = CreditTransaction.objects.for_org(organization)
    month = ledger.filter(created_at__gte=month_start).aggregate(
        spent=Coalesce(Sum("amount", filter=Q(type=TransactionType.USAGE)), 0),
        refunded=Coalesce(Sum("amount", filter=Q(type=TransactionType.REFUND)), 0),
    )
    last_purchase = (
        ledger.filter(type=TransactionType.PURCHASE)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    return {
        "credits": Organization.objects.values_list("credits", flat=True).get(pk=organization.pk),
        "usage_this_month": max(-month["spent"] - month["refunded"], 0),
        "last_topped_up": last_purchase,
    }


def credit_transactions_queryset(*, organization: Organization):
    return CreditTransaction.objects.for_org(organization)
