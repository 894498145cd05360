"""Billing errors (the envelope's codes are docs/CONTRACT.md §9's; these only add statuses and messages)."""

from pixell.errors import PixellError


class InsufficientCredits(PixellError):
    status_code = 402
    code = "INSUFFICIENT_CREDITS"
    default_message = "Insufficient credits"

    def __init__(self, *, required: int, available: int, message: str | None = None):
        super().__init__(
            message,
            details={"required": required, "available": available},
            extra={"required": required, "available": available},
        )


class BillingNotConfigured(PixellError):
    # A server-side condition the caller cannot fix by changing the request: 503, not 400.
    status_code = 503
    code = "INTERNAL_ERROR"
    default_message = (
        "Credit top-ups are not available: no payment provider is configured on this server"
    )


class PaymentProviderError(PixellError):
    status_code = 502
    code = "INTERNAL_ERROR"
    default_message = "The payment provider could not create the checkout session; try again"


class CheckoutOrganizationUnknown(Exception):
    """A paid checkout names no organization we know (nothing is credited; operators are told)."""


class CheckoutInvalid(Exception):
    """A paid checkout whose metadata cannot be fulfilled (e.g. credits missing)."""
