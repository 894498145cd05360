from datetime import UTC

from django.conf import settings
from rest_framework import serializers

from pixell.api.fields import StrictCharField, StrictIntegerField

# One report's invocations: far above any real batch, and low enough that the BIGINT rollup sums
# (UsageDaily.value) cannot overflow into a 500.
MAX_INVOCATIONS_PER_REPORT = 1_000_000_000


class BalanceOutputSerializer(serializers.Serializer):
    credits = serializers.IntegerField()
    usage_this_month = serializers.IntegerField()
    last_topped_up = serializers.DateTimeField(allow_null=True)


class TransactionOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    type = serializers.CharField()
    amount = serializers.IntegerField()
    balance_after = serializers.IntegerField()
    description = serializers.CharField()
    created_at = serializers.DateTimeField()


class HistoryOutputSerializer(serializers.Serializer):
    transactions = TransactionOutputSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class TopupInputSerializer(serializers.Serializer):
    package = StrictCharField()
    credits = StrictIntegerField()

    def validate_package(self, value):
        if value not in settings.PIXELL_CREDIT_PACKAGES:
            names = ", ".join(settings.PIXELL_CREDIT_PACKAGES)
            raise serializers.ValidationError(f"Unknown package; choose one of: {names}.")
        return value

    def validate(self, attrs):
        expected = settings.PIXELL_CREDIT_PACKAGES[attrs["package"]]["credits"]
        if attrs["credits"] != expected:
            raise serializers.ValidationError(
                {"credits": [f"The {attrs['package']} package is {expected} credits."]}
            )
        return attrs


class TopupOutputSerializer(serializers.Serializer):
    sessionUrl = serializers.URLField()
    sessionId = serializers.CharField()


class WebhookReceivedSerializer(serializers.Serializer):
    received = serializers.BooleanField()


class InvocationReportInputSerializer(serializers.Serializer):
    id = StrictCharField(max_length=150)
    agent_app_id = StrictCharField(max_length=64)
    count = StrictIntegerField(min_value=1, max_value=MAX_INVOCATIONS_PER_REPORT)
    credits = StrictIntegerField(min_value=0)
    timestamp = serializers.DateTimeField(default_timezone=UTC)


class InvocationReportOutputSerializer(serializers.Serializer):
    id = serializers.CharField()
    agent_app_id = serializers.UUIDField()
    count = serializers.IntegerField()
    credits = serializers.IntegerField()
    balance_after = serializers.IntegerField()
    timestamp = serializers.DateTimeField()
