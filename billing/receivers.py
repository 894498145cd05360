"""Billing's part in what lower apps announce (connected in BillingConfig.ready())."""

from billing.models import TransactionType
from billing.services import credits_apply


def grant_signup_credits(sender, *, organization, owner, signup_credits: int, **kwargs) -> None:
    """A new organization's signup credits, as a ``bonus`` row, in its creating transaction."""
    if signup_credits > 0:
        credits_apply(
            organization=organization,
            amount=signup_credits,
            type=TransactionType.BONUS,
            description="Signup credits",
            actor=owner,
        )
