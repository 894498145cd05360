from django.conf import settings
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
    # Idempotency of reported events (the runtime's invocation report id): recorded at most once.
    reference = models.CharField(max_length=200, null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "occurred_at"]),
            models.Index(fields=["organization", "type", "occurred_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["reference"],
                condition=models.Q(reference__isnull=False),
                name="usage_event_reference_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.type}: {self.description}"


class UsageDaily(OrgScopedModel):
    """Per organization, UTC day and event type: the sums metrics and the chart read.

    Maintained in the same transaction as every event (usage_event_record), so it is exact at
    all times; a year's chart reads at most 365 × types rows instead of every event.
    ``usage_rollup_rebuild`` recomputes it from the events (bulk seeding, repair).
    """

    day = models.DateField()
    type = models.CharField(max_length=20, choices=UsageEventType.choices)
    events = models.BigIntegerField(default=0)
    value = models.BigIntegerField(default=0)
    credits = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "daily usage rollup"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "day", "type"], name="usage_daily_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.organization_id} {self.day} {self.type}: {self.events}"


class ApiCallDaily(OrgScopedModel):
    """Authenticated /api requests per organization and UTC day.

    Requests are counted in the cache (no database write per request); ``usage_rollup_flush_task``
    moves the counters here. A row is created the first time an organization is counted on a
    day, which also tells the flush task which counters exist.
    """

    day = models.DateField()
    count = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "daily API call count"
        constraints = [
            models.UniqueConstraint(fields=["organization", "day"], name="api_call_daily_unique")
        ]
        indexes = [models.Index(fields=["day"])]

    def __str__(self) -> str:
        return f"{self.organization_id} {self.day}: {self.count}"


class ExportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    JSON = "json", "JSON"


class UsageExport(OrgScopedModel):
    """A generated export file: who asked for which range, where it is, until when its link works."""

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    format = models.CharField(max_length=4, choices=ExportFormat.choices)
    start_date = models.DateField()
    end_date = models.DateField()
    storage_key = models.CharField(max_length=500)
    rows = models.BigIntegerField(default=0)
    size = models.BigIntegerField(default=0)
    expires_at = models.DateTimeField()
    # Set when the expired file has been removed from storage.
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"])]

    def __str__(self) -> str:
        return f"{self.storage_key} ({self.rows} rows)"
