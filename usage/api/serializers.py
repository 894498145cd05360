from rest_framework import serializers

from usage.models import ExportFormat

MAX_EXPORT_DAYS = 366


class MetricsOutputSerializer(serializers.Serializer):
    invocations = serializers.IntegerField()
    invocationsChange = serializers.FloatField()
    packagesUploaded = serializers.IntegerField()
    packagesChange = serializers.FloatField()
    apiCalls = serializers.IntegerField()
    apiCallsChange = serializers.FloatField()
    creditsUsed = serializers.IntegerField()
    creditsChange = serializers.FloatField()


class ChartPointSerializer(serializers.Serializer):
    date = serializers.CharField(help_text='"Mon DD"')
    iso_date = serializers.DateField()
    invocations = serializers.IntegerField()
    credits = serializers.IntegerField()


class ChartOutputSerializer(serializers.Serializer):
    data = ChartPointSerializer(many=True)


class ActivityEventSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    type = serializers.CharField()
    description = serializers.CharField()
    value = serializers.IntegerField(
        required=False, help_text="Only where meaningful (e.g. invocations: how many)"
    )
    timestamp = serializers.DateTimeField(source="occurred_at")

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if data.get("value") is None:
            data.pop("value", None)
        return data


class ActivityOutputSerializer(serializers.Serializer):
    events = ActivityEventSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class ExportInputSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=ExportFormat.values)
    startDate = serializers.DateField()
    endDate = serializers.DateField()

    def validate(self, attrs):
        start, end = attrs["startDate"], attrs["endDate"]
        if end < start:
            raise serializers.ValidationError({"endDate": ["Must not be before startDate."]})
        if (end - start).days + 1 > MAX_EXPORT_DAYS:
            raise serializers.ValidationError(
                {"endDate": [f"An export covers at most {MAX_EXPORT_DAYS} days."]}
            )
        return attrs


class ExportOutputSerializer(serializers.Serializer):
    downloadUrl = serializers.URLField()
    expiresAt = serializers.DateTimeField()
