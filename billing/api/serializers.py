from datetime import UTC

from rest_framework import serializers

from billing.services import credit_package_get
from pixell.api.fields import StrictCharField, StrictIntegerField
from pixell.errors import ValidationError

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

    # The rule is the service's (credit_package_get); run here too, its error is reported beside
    # the other fields' errors, as the API always did.
    def validate_package(self, value):
        try:
            credit_package_get(package=value)
        except ValidationError as exc:
            raise serializers.ValidationError(exc.details["package"]) from None
        return value

    def validate(self, attrs):
        try:
            credit_package_get(package=attrs["package"], credits=attrs["credits"])
        except ValidationError as exc:
            raise serializers.ValidationError(exc.details) from None
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
