from django.conf import settings
from django.db import models

from organizations.models import OrgScopedModel
from pixell.db import TimeStampedModel


class TransactionType(models.TextChoices):
    PURCHASE = "purchase", "Purchase"
    USAGE = "usage", "Usage"
    REFUND = "refund", "Refund"
    BONUS = "bonus", "Bonus"
    ADJUSTMENT = "adjustment", "Adjustment"


class CreditTransaction(OrgScopedModel):
    """The append-only credit ledger (docs/CONTRACT.md §6). Rows are written only by credits_apply."""

    type = models.CharField(max_length=12, choices=TransactionType.choices)
    amount = models.BigIntegerField()
    balance_after = models.BigIntegerField()
    description = models.CharField(max_length=255)
    # Idempotency: a movement with a reference happens at most once (Stripe session, invocation
    # report, deployment refund...). Enforced by a unique constraint, not only by a lookup.
    reference = models.CharField(max_length=200, null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["reference"],
                condition=models.Q(reference__isnull=False),
                name="credit_transaction_reference_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(balance_after__gte=0),
                name="credit_transaction_balance_non_negative",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "-created_at"]),
            models.Index(fields=["organization", "type", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.amount:+d} → {self.balance_after}"


class CreditAdjustment(CreditTransaction):
    """The operators' view of ledger rows of type ``adjustment`` (admin "Credit adjustments")."""

    class Meta:
        proxy = True
        verbose_name = "credit adjustment"


class CheckoutProvider(models.TextChoices):
    STRIPE = "stripe", "Stripe"
    SANDBOX = "sandbox", "Sandbox"


class CheckoutStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class CheckoutSession(OrgScopedModel):
    """A top-up someone started: a Stripe Checkout Session or a local sandbox one.

    Fulfilment does not depend on this row (a Stripe event carries everything in its metadata);
    it is the purchase history operators see, and the record the sandbox page confirms.
    """

    session_id = models.CharField(max_length=255, unique=True)
    provider = models.CharField(max_length=10, choices=CheckoutProvider.choices)
    status = models.CharField(
        max_length=10, choices=CheckoutStatus.choices, default=CheckoutStatus.PENDING
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    package = models.CharField(max_length=32)
    credits = models.BigIntegerField()
    amount_cents = models.BigIntegerField()
    currency = models.CharField(max_length=3, default="usd")
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.session_id} ({self.package}, {self.status})"

    @property
    def price_display(self) -> str:
        return f"{self.amount_cents / 100:,.2f} {self.currency.upper()}"


class StripeEventStatus(models.TextChoices):
    PROCESSED = "processed", "Processed"  # credited (or found already credited)
    IGNORED = "ignored", "Ignored"  # a type or payment status we do not act on
    FAILED = (
        "failed",
        "Failed",
    )  # well signed but not actionable (unknown organization...): see error


class StripeEvent(TimeStampedModel):
    """Every Stripe event we accepted, once: the unique ``event_id`` de-duplicates retries.

    Not org-scoped: an event may name no organization we know.
    """

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=StripeEventStatus.choices)
    organization = models.ForeignKey(
        "organizations.Organization",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    session_id = models.CharField(max_length=255, blank=True, default="")
    error = models.CharField(max_length=500, blank=True, default="")
    payload = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"{self.event_id} {self.type} ({self.status})"
