"""Credit ledger writes. ``credits_apply`` is the only code that changes a balance."""

from django.db import IntegrityError, transaction

from billing.models import CreditTransaction, TransactionType
from organizations.models import Organization
from pixell.api.exceptions import InsufficientCredits


def credits_apply(
    *,
    organization: Organization,
    amount: int,
    type: str,
    description: str,
    reference: str | None = None,
    actor=None,
    metadata: dict | None = None,
) -> CreditTransaction:
    """Move ``amount`` credits (negative = spend) and append the ledger row, atomically.

    With a ``reference`` the movement is idempotent: a second call returns the first row unchanged.
    Raises InsufficientCredits when the balance cannot cover a negative amount; the balance never
    goes below zero.
    """
    if type not in TransactionType.values:
        raise ValueError(f"unknown transaction type {type!r}")
    if amount == 0 and type != TransactionType.ADJUSTMENT:
        raise ValueError("a ledger movement needs a non-zero amount")
    with transaction.atomic():
        # The row lock serializes every balance change of this organization, so concurrent
        # reservations cannot both read the same balance (on SQLite, IMMEDIATE transactions
        # serialize writers the same way).
        org = Organization.objects.select_for_update().get(pk=organization.pk)
        if reference is not None:
            existing = CreditTransaction.all_orgs.filter(reference=reference).first()
            if existing is not None:
                return existing
        new_balance = org.credits + amount
        if new_balance < 0:
            raise InsufficientCredits(required=-amount, available=org.credits)
        try:
            # The savepoint keeps the outer transaction usable if a concurrent writer of the
            # same reference won the unique constraint in between.
            with transaction.atomic():
                row = CreditTransaction.all_orgs.create(
                    organization=org,
                    type=type,
                    amount=amount,
                    balance_after=new_balance,
                    description=description[:255],
                    reference=reference,
                    actor=actor,
                    metadata=metadata or {},
                )
        except IntegrityError:
            if reference is None:
                raise
            return CreditTransaction.all_orgs.get(reference=reference)
        Organization.objects.filter(pk=org.pk).update(credits=new_balance)
    organization.credits = new_balance
    return row
