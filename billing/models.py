from django.conf import settings
from django.db import models

from organizations.models import OrgScopedModel


class TransactionType(models.TextChoices):
    PURCHASE = "purchase", "Purchase"
    USAGE = "usage", "Usage"
    REFUND = "refund", "Refund"
    BONUS = "bonus", "Bonus"
    ADJUSTMENT = "adjustment", "Adjustment"


class CreditTransaction(OrgScopedModel):
    """The append-only credit ledger (CONTRACT §6). Rows are written only by credits_apply."""

    type = models.CharField(max_length=12, choices=TransactionType.choices)
    amount = models.BigIntegerField()
    balance_after = models.BigIntegerField()
    description = models.CharField(max_length=255)
    # Idempotency: a movement with a reference happens at most once (Stripe session, invocation
    # report, deployment refund...). Enforced by a unique constraint, not only by a lookup.
    reference = models.CharField(max_length=200, null=True, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["reference"], condition=models.Q(reference__isnull=False), name="credit_transaction_reference_unique"
            ),
            models.CheckConstraint(condition=models.Q(balance_after__gte=0), name="credit_transaction_balance_non_negative"),
        ]
        indexes = [models.Index(fields=["organization", "-created_at"]), models.Index(fields=["organization", "type", "created_at"])]

    def __str__(self) -> str:
        return f"{self.type} {self.amount:+d} → {self.balance_after}"
