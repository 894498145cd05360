from django.db.models import Sum

from billing.models import CreditTransaction
from organizations.models import Organization


def ledger_drift() -> list[tuple[Organization, int, int]]:
    """Organizations whose balance differs from the sum of their ledger rows: (org, balance, sum)."""
    sums = dict(
        CreditTransaction.all_orgs.values("organization_id").annotate(total=Sum("amount")).values_list("organization_id", "total")
    )
    drift = []
    for org in Organization.objects.only("id", "name", "credits").iterator():
        total = sums.get(org.id) or 0
        if total != org.credits:
            drift.append((org, org.credits, total))
    return drift
