from rest_framework import serializers

from pixell.api.fields import StrictCharField


class InvokeInputSerializer(serializers.Serializer):
    action = StrictCharField(max_length=200, allow_blank=True, trim_whitespace=False)
    data = serializers.DictField(required=False, default=dict)


class InvocationSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["success", "error"])
    data = serializers.JSONField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    duration_ms = serializers.FloatField()
    credits = serializers.IntegerField(
        help_text="The invocation's price (PIXELL_INVOCATION_CREDITS), charged once: before the "
        "answer when the balance is below 100 invocations' worth, just after it otherwise (then "
        "counted with 0 only if a concurrent spend emptied the balance meanwhile)."
    )
    version = serializers.CharField()


class InvocationOutputSerializer(serializers.Serializer):
    invocation = InvocationSerializer()


class AppRuntimeSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["running", "starting", "stopped", "failed"])
    version = serializers.CharField(allow_null=True)
    deployment_id = serializers.CharField(allow_null=True)
    started_at = serializers.CharField(allow_null=True)
    log_tail = serializers.ListField(child=serializers.CharField(allow_blank=True))


class AppRuntimeOutputSerializer(serializers.Serializer):
    runtime = AppRuntimeSerializer()
