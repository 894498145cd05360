"""Deployments (the queue of record), their steps, deploy idempotency and outgoing webhooks.

A deployment row *is* the job: Celery messages only nudge a worker to look at the table
(docs/CONTRACT.md §5), so every path of a row ends in a terminal status whatever happens to messages.
"""

from django.conf import settings
from django.db import models

from organizations.models import OrgScopedModel
from pixell.db import TimeStampedModel


class DeploymentStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    PROCESSING = "processing", "Processing"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


TERMINAL_STATUSES = (
    DeploymentStatus.COMPLETED,
    DeploymentStatus.FAILED,
    DeploymentStatus.CANCELLED,
)


class StepStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


# The pipeline's steps in order (docs/CONTRACT.md §5); deployments.pipeline implements each.
STEP_NAMES = ("validate_package", "upload_to_s3", "generate_metadata", "notify_runtime", "finalize")


class Deployment(OrgScopedModel):
    agent_app = models.ForeignKey(
        "agentapps.AgentApp", on_delete=models.CASCADE, related_name="deployments"
    )
    package = models.ForeignKey(
        "agentapps.Package", on_delete=models.CASCADE, related_name="deployments"
    )
    version = models.CharField(max_length=64)
    status = models.CharField(
        max_length=12, choices=DeploymentStatus.choices, default=DeploymentStatus.QUEUED
    )
    # Credits reserved at acceptance; refunded once (ledger reference deployment:<id>:refund) on
    # failure or cancellation.
    cost = models.PositiveIntegerField()
    release_notes = models.TextField(max_length=5000, blank=True, default="")
    force_overwrite = models.BooleanField(default=False)
    # The deploy form's environment overrides. They may hold credentials, so they are encrypted
    # at rest like app secrets (deployments.crypto), and never rendered by the API.
    environment_encrypted = models.TextField(blank=True, default="")
    error = models.TextField(null=True, blank=True)
    # What generate_metadata derived (package metadata, warnings, ...).
    metadata = models.JSONField(default=dict, blank=True)

    queued_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Claim bookkeeping: the worker holding a processing job refreshes heartbeat_at; a job whose
    # heartbeat is older than the timeout was abandoned (killed worker) and is taken up again.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    worker_id = models.CharField(max_length=200, blank=True, default="")
    # A job released after a transient error waits until then before it can be claimed again.
    not_before = models.DateTimeField(null=True, blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [
            # The claim query: oldest queued first.
            models.Index(fields=["status", "queued_at"], name="deployment_queue_idx"),
            models.Index(fields=["status", "heartbeat_at"], name="deployment_stuck_idx"),
            models.Index(fields=["agent_app", "-created_at"], name="deployment_app_recent_idx"),
            models.Index(fields=["status", "completed_at"], name="deployment_finished_idx"),
        ]

    def __str__(self) -> str:
        return f"Deployment {self.id} ({self.status})"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.completed_at:
            return round((self.completed_at - self.started_at).total_seconds(), 3)
        return None


class DeploymentStep(TimeStampedModel):
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="steps")
    name = models.CharField(max_length=40)
    position = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=12, choices=StepStatus.choices, default=StepStatus.PENDING)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(null=True, blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "name"], name="deployment_step_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"


class IdempotencyRecord(OrgScopedModel):
    """The first answer to a deploy sent with an ``Idempotency-Key`` (docs/CONTRACT.md §5), kept 24 h.

    Written as a claim (``response_status`` null) before the work starts, so two concurrent
    requests with one key cannot both deploy: the unique constraint lets exactly one insert win.
    """

    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    deployment = models.ForeignKey(
        Deployment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "key"], name="idempotency_key_unique_per_org"
            )
        ]

    def __str__(self) -> str:
        return f"Idempotency-Key {self.key}"


class WebhookEvent(models.TextChoices):
    QUEUED = "deployment.queued", "deployment.queued"
    PROCESSING = "deployment.processing", "deployment.processing"
    COMPLETED = "deployment.completed", "deployment.completed"
    FAILED = "deployment.failed", "deployment.failed"


PING_EVENT = "ping"


class Webhook(OrgScopedModel):
    agent_app = models.ForeignKey(
        "agentapps.AgentApp", on_delete=models.CASCADE, related_name="webhooks"
    )
    url = models.URLField(max_length=2000)
    events = models.JSONField(default=list)
    # Signing needs the secret itself, so it is stored encrypted (never hashed), and never
    # rendered after the creation response.
    secret_encrypted = models.TextField()
    active = models.BooleanField(default=True)
    # Deliveries that ended failed in a row; 20 disables the webhook (docs/CONTRACT.md §7).
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["agent_app", "active"], name="webhook_app_active_idx")]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # waiting for its next attempt
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"  # every attempt failed, or the target was refused


class WebhookDelivery(OrgScopedModel):
    """One message to one webhook and its attempts. The row is the record of truth: beat's sweep
    resends any pending delivery that is due, whatever happened to its Celery message."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    deployment = models.ForeignKey(
        Deployment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    event = models.CharField(max_length=40)
    # webhook-id: the same on every attempt and on redeliveries of this message.
    message_id = models.CharField(max_length=64, db_index=True)
    # The text of the message, as last sent: every attempt sends it again, except a deployment
    # event's s3_url, signed afresh per attempt (deployments.delivery._attempt_body).
    body = models.TextField()
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    redelivery_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due_idx"),
            models.Index(fields=["webhook", "-created_at"], name="delivery_webhook_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.webhook_id} ({self.status})"


class WebhookDeliveryAttempt(TimeStampedModel):
    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveIntegerField()
    requested_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    response_snippet = models.TextField(blank=True, default="")
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="delivery_attempt_unique")
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"
