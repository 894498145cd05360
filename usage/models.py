from django.db import models
from django.utils import timezone

from organizations.models import OrgScopedModel


class UsageEventType(models.TextChoices):
    INVOCATION = "invocation", "Invocation"
    PACKAGE_UPLOAD = "package_upload", "Package upload"
    DEPLOYMENT = "deployment", "Deployment"
    PURCHASE = "purchase", "Purchase"
    MEMBER = "member", "Member change"
    API_KEY = "api_key", "API key change"
    APP = "app", "Agent app change"


class UsageEvent(OrgScopedModel):
    """One thing that happened in an organization: feeds metrics, chart, activity and exports."""

    type = models.CharField(max_length=20, choices=UsageEventType.choices)
    description = models.CharField(max_length=255)
    # Invocations: count of invocations; other types: usually null.
    value = models.BigIntegerField(null=True, blank=True)
    # Credits this event consumed (invocations, deployments), for the chart and creditsUsed.
    credits = models.BigIntegerField(default=0)
    agent_app_id = models.UUIDField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "occurred_at"]),
            models.Index(fields=["organization", "type", "occurred_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.type}: {self.description}"
