"""Domain errors of deployments and webhooks, on the Django-free base (pixell/errors.py)."""

from pixell.errors import Conflict, ValidationError


class DeploymentNotCancellable(Conflict):
    default_message = "Only a queued deployment can be cancelled"


class DeploymentNotRetryable(Conflict):
    default_message = "Only a failed or cancelled deployment can be retried"


class IdempotencyKeyReused(Conflict):
    default_message = "This Idempotency-Key was already used with a different request"


class IdempotencyKeyInFlight(Conflict):
    default_message = "A request with this Idempotency-Key is still being processed; retry shortly"


class InvalidWebhook(ValidationError):
    default_message = "Invalid webhook"
