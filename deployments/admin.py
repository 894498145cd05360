"""Operator admin of deployments and webhooks. Querysets use ``all_orgs`` (the system bypass of tenant
scoping). State moves only through the services — retry, cancel and redeliver are actions, not
field edits — so refunds, webhooks and fencing stay correct. Webhook secrets are never shown."""

from django.contrib import admin, messages

from deployments import delivery, services
from deployments.models import (
    Deployment,
    DeploymentStatus,
    DeploymentStep,
    IdempotencyRecord,
    Webhook,
    WebhookDelivery,
    WebhookDeliveryAttempt,
)
from pixell.errors import PixellError


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class DeploymentStepInline(ReadOnlyInline):
    model = DeploymentStep
    fields = ("position", "name", "status", "started_at", "completed_at", "error")
    readonly_fields = fields
    ordering = ("position",)


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "agent_app",
        "version",
        "status",
        "cost",
        "attempts",
        "queued_at",
        "started_at",
        "completed_at",
    )
    list_filter = ("status", "queued_at")
    search_fields = ("id", "agent_app__name", "version", "organization__name")
    list_select_related = ("agent_app",)
    date_hierarchy = "queued_at"
    inlines = [DeploymentStepInline]
    actions = ["retry_deployments", "cancel_deployments"]
    exclude = ("environment_encrypted",)  # may hold credentials
    readonly_fields = (
        "organization",
        "agent_app",
        "package",
        "version",
        "status",
        "cost",
        "release_notes",
        "force_overwrite",
        "error",
        "metadata",
        "queued_at",
        "started_at",
        "completed_at",
        "heartbeat_at",
        "attempts",
        "worker_id",
        "not_before",
        "created_by",
        "created_at",
        "updated_at",
    )

    def has_add_permission(self, request):
        return False

    @admin.action(
        description="Retry (failed or cancelled → a new deployment with a new reservation)"
    )
    def retry_deployments(self, request, queryset):
        for deployment in queryset.select_related("organization", "agent_app", "package"):
            try:
                new = services.deployment_retry(deployment=deployment, actor=request.user)
            except PixellError as exc:
                self.message_user(
                    request, f"{deployment.id}: not retried — {exc.message}", messages.WARNING
                )
            except FileNotFoundError:
                self.message_user(
                    request,
                    f"{deployment.id}: not retried — its package file is gone",
                    messages.WARNING,
                )
            else:
                self.message_user(
                    request, f"{deployment.id}: retried as {new.id} (queued)", messages.SUCCESS
                )

    @admin.action(description="Cancel (queued only; refunds the reservation)")
    def cancel_deployments(self, request, queryset):
        for deployment in queryset:
            if deployment.status != DeploymentStatus.QUEUED:
                self.message_user(
                    request,
                    f"{deployment.id}: not cancelled — it is {deployment.status}; only queued ones can be",
                    messages.WARNING,
                )
                continue
            try:
                services.deployment_cancel(deployment=deployment, actor=request.user)
            except PixellError as exc:
                self.message_user(
                    request, f"{deployment.id}: not cancelled — {exc.message}", messages.WARNING
                )
            else:
                self.message_user(
                    request, f"{deployment.id}: cancelled and refunded", messages.SUCCESS
                )


class DeliveryAttemptInline(ReadOnlyInline):
    model = WebhookDeliveryAttempt
    fields = (
        "number",
        "requested_at",
        "status_code",
        "succeeded",
        "duration_ms",
        "error",
        "response_snippet",
    )
    readonly_fields = fields
    ordering = ("number",)


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    list_display = ("id", "agent_app", "url", "active", "consecutive_failures", "created_at")
    list_filter = ("active",)
    search_fields = ("url", "agent_app__name")
    exclude = ("secret_encrypted",)
    readonly_fields = (
        "organization",
        "agent_app",
        "url",
        "events",
        "consecutive_failures",
        "disabled_at",
        "created_by",
        "created_at",
    )
    fields = (
        "organization",
        "agent_app",
        "url",
        "events",
        "active",
        "consecutive_failures",
        "disabled_at",
        "created_by",
        "created_at",
    )

    def has_add_permission(self, request):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "webhook",
        "event",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "created_at",
    )
    list_filter = ("status", "event")
    search_fields = ("id", "message_id", "webhook__url")
    list_select_related = ("webhook",)
    inlines = [DeliveryAttemptInline]
    actions = ["redeliver"]
    readonly_fields = (
        "organization",
        "webhook",
        "deployment",
        "event",
        "message_id",
        "body",
        "status",
        "attempts",
        "next_attempt_at",
        "last_attempt_at",
        "last_status_code",
        "completed_at",
        "redelivery_of",
        "created_at",
    )

    def has_add_permission(self, request):
        return False

    @admin.action(description="Redeliver (same message, same webhook-id)")
    def redeliver(self, request, queryset):
        for item in queryset:
            again = delivery.webhook_delivery_redeliver(delivery=item)
            self.message_user(request, f"{item.id}: redelivery {again.id} queued", messages.SUCCESS)


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    list_display = ("key", "organization", "response_status", "deployment", "created_at")
    search_fields = ("key",)
    readonly_fields = (
        "organization",
        "key",
        "request_hash",
        "response_status",
        "response_body",
        "deployment",
        "created_at",
    )

    def has_add_permission(self, request):
        return False
