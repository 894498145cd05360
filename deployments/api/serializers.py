"""Input parsing for the deployments API, and output shapes for the OpenAPI document.

Answers are rendered by deployments.presenters (the same dicts are stored for idempotent replays
and sent as webhook payloads); the output serializers here describe those dicts for /api/schema/.
"""

import json

from rest_framework import serializers

from deployments.models import WebhookEvent
from pixell.api.fields import StrictBooleanField, StrictCharField

MAX_SIGNATURE_BYTES = 4096
MAX_ENVIRONMENT_BYTES = 64 * 1024


class DeployInputSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True)
    version = StrictCharField(required=False, allow_blank=True, max_length=64, trim_whitespace=True)
    release_notes = StrictCharField(
        required=False, allow_blank=True, max_length=5000, trim_whitespace=False
    )
    force_overwrite = StrictBooleanField(required=False, default=False)
    dry_run = StrictBooleanField(required=False, default=False)
    environment = StrictCharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="A JSON object of strings, as a string",
    )
    signature = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=MAX_SIGNATURE_BYTES,
        help_text="Detached Ed25519 signature: a file part, or text (base64 of the 64 bytes)",
    )

    def validate_environment(self, value: str) -> dict:
        if value.strip() == "":
            return {}
        if len(value.encode()) > MAX_ENVIRONMENT_BYTES:
            raise serializers.ValidationError(f"Must be at most {MAX_ENVIRONMENT_BYTES} bytes.")
        try:
            parsed = json.loads(value)
        except ValueError:
            raise serializers.ValidationError(
                'Must be a JSON object (as a string), e.g. {"KEY": "value"}.'
            ) from None
        if not isinstance(parsed, dict):
            raise serializers.ValidationError('Must be a JSON object, e.g. {"KEY": "value"}.')
        for key, item in parsed.items():
            if not key:
                raise serializers.ValidationError("Keys must be non-empty strings.")
            if not isinstance(item, str):
                raise serializers.ValidationError(f"The value of {key!r} must be a string.")
        return parsed

    def validate_signature(self, value) -> bytes | None:
        if value is None or value == "":
            return None
        if hasattr(value, "read"):
            if value.size > MAX_SIGNATURE_BYTES:
                raise serializers.ValidationError(f"Must be at most {MAX_SIGNATURE_BYTES} bytes.")
            return value.read()
        if isinstance(value, str):
            if len(value) > MAX_SIGNATURE_BYTES:
                raise serializers.ValidationError(f"Must be at most {MAX_SIGNATURE_BYTES} bytes.")
            return value.strip().encode()
        raise serializers.ValidationError("Must be a file or a string.")

    def to_internal_value(self, data):
        # A signature file part arrives in request.FILES; JSONField would not accept it as-is.
        signature = data.get("signature") if hasattr(data, "get") else None
        if signature is not None and hasattr(signature, "read"):
            # A plain dict, not QueryDict.copy(): that deep-copies uploaded files.
            rest = {key: data.get(key) for key in data if key != "signature"}
            validated = super().to_internal_value(rest)
            validated["signature"] = self.validate_signature(signature)
            return validated
        return super().to_internal_value(data)


class WebhookInputSerializer(serializers.Serializer):
    url = StrictCharField(max_length=2000)
    events = serializers.ListField(
        child=StrictCharField(), allow_empty=False, max_length=len(WebhookEvent.values) * 2
    )
    secret = StrictCharField(
        required=False, allow_blank=False, max_length=200, trim_whitespace=False
    )

    def validate_url(self, value: str) -> str:
        serializers.URLField().run_validators(value)
        return value


class WebhookUpdateSerializer(serializers.Serializer):
    url = StrictCharField(required=False, max_length=2000)
    events = serializers.ListField(
        child=StrictCharField(),
        required=False,
        allow_empty=False,
        max_length=len(WebhookEvent.values) * 2,
    )
    active = StrictBooleanField(required=False)

    def validate_url(self, value: str) -> str:
        serializers.URLField().run_validators(value)
        return value


# --- output shapes (documentation) ------------------------------------------------------------


class _AcceptedDeployment(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    message = serializers.CharField()
    queued_at = serializers.DateTimeField()
    estimated_duration_seconds = serializers.IntegerField()
    cost = serializers.IntegerField()


class _AcceptedPackage(serializers.Serializer):
    id = serializers.UUIDField()
    version = serializers.CharField()
    size_bytes = serializers.IntegerField()
    status = serializers.CharField()


class _Tracking(serializers.Serializer):
    status_url = serializers.URLField()
    webhook_url = serializers.URLField()


class DeployAcceptedSerializer(serializers.Serializer):
    deployment = _AcceptedDeployment()
    package = _AcceptedPackage()
    tracking = _Tracking()


class DryRunSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    cost = serializers.IntegerField()
    warnings = serializers.ListField(child=serializers.CharField())
    errors = serializers.ListField(child=serializers.CharField())


class InsufficientCreditsSerializer(serializers.Serializer):
    error = serializers.CharField()
    code = serializers.CharField()
    details = serializers.JSONField()
    required = serializers.IntegerField()
    available = serializers.IntegerField()


class StepSerializer(serializers.Serializer):
    name = serializers.CharField()
    status = serializers.CharField()
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(allow_null=True)


class _Progress(serializers.Serializer):
    current_step = serializers.CharField(allow_null=True)
    steps = StepSerializer(many=True)


class DeploymentSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    package_id = serializers.UUIDField()
    agent_app_id = serializers.UUIDField()
    version = serializers.CharField()
    release_notes = serializers.CharField()
    cost = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    queued_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    duration_seconds = serializers.FloatField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    attempts = serializers.IntegerField()
    queue_position = serializers.IntegerField(required=False, help_text="Only while queued")
    progress = _Progress()


class DeploymentEnvelopeSerializer(serializers.Serializer):
    deployment = DeploymentSerializer()


class DeploymentListSerializer(serializers.Serializer):
    deployments = DeploymentSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class _QueueCounts(serializers.Serializer):
    queued = serializers.IntegerField()
    processing = serializers.IntegerField()
    completed = serializers.IntegerField()
    failed = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    total = serializers.IntegerField()


class _QueueHealth(serializers.Serializer):
    status = serializers.ChoiceField(choices=["healthy", "warning", "critical"])
    message = serializers.CharField()


class _QueueMetrics(serializers.Serializer):
    avgProcessingTimeSeconds = serializers.FloatField(allow_null=True)
    failureRateLastHour = serializers.FloatField(allow_null=True)
    stuck = serializers.IntegerField()
    lastUpdated = serializers.DateTimeField()


class QueueStatsSerializer(serializers.Serializer):
    stats = _QueueCounts()
    health = _QueueHealth()
    metrics = _QueueMetrics()


class CronProcessedSerializer(serializers.Serializer):
    processed = serializers.BooleanField()
    jobId = serializers.UUIDField(required=False)
    status = serializers.CharField(required=False)
    duration = serializers.FloatField(required=False)
    message = serializers.CharField(required=False)


class WebhookSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.URLField()
    events = serializers.ListField(child=serializers.CharField())
    active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    disabled_at = serializers.DateTimeField(allow_null=True)
    consecutive_failures = serializers.IntegerField()


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(help_text="Shown once, here only")


class WebhookListSerializer(serializers.Serializer):
    webhooks = WebhookSerializer(many=True)


class WebhookEnvelopeSerializer(serializers.Serializer):
    webhook = WebhookCreatedSerializer()


class WebhookUpdatedSerializer(serializers.Serializer):
    webhook = WebhookSerializer()


class _Attempt(serializers.Serializer):
    number = serializers.IntegerField()
    requested_at = serializers.DateTimeField()
    status_code = serializers.IntegerField(allow_null=True)
    succeeded = serializers.BooleanField()
    duration_ms = serializers.IntegerField()
    response_snippet = serializers.CharField()
    error = serializers.CharField(allow_null=True)


class DeliverySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    webhook_id = serializers.UUIDField()
    event = serializers.CharField()
    message_id = serializers.CharField(
        help_text="The webhook-id header: the same on retries and redeliveries"
    )
    deployment_id = serializers.UUIDField(allow_null=True)
    status = serializers.ChoiceField(choices=["pending", "succeeded", "failed"])
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    last_status_code = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    redelivery_of = serializers.UUIDField(allow_null=True)
    attempt_log = _Attempt(many=True)


class DeliveryListSerializer(serializers.Serializer):
    deliveries = DeliverySerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class DeliveryEnvelopeSerializer(serializers.Serializer):
    delivery = DeliverySerializer()
