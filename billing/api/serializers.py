from django.conf import settings
from rest_framework import serializers

from pixell.api.fields import StrictCharField


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


class StrictIntegerField(serializers.IntegerField):
    """A JSON number (not a string or a boolean)."""

    default_error_messages = {"invalid": "Must be an integer."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


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
