from rest_framework import serializers

from pixell.api.fields import StrictBooleanField, StrictCharField, StrictEmailField
from pixell.api.schema import MessageSerializer  # noqa: F401 - re-exported for the views


# --- input ----------------------------------------------------------------------------------
class SignupInputSerializer(serializers.Serializer):
    email = StrictEmailField(max_length=254)
    password = StrictCharField(max_length=128, trim_whitespace=False)
    organizationName = StrictCharField(
        max_length=100, required=False, allow_blank=True, allow_null=True
    )


class LoginInputSerializer(serializers.Serializer):
    email = StrictEmailField(max_length=254)
    password = StrictCharField(max_length=128, trim_whitespace=False)
    rememberMe = StrictBooleanField(required=False, default=False)


class KeyInputSerializer(serializers.Serializer):
    key = StrictCharField(max_length=1000)


class EmailInputSerializer(serializers.Serializer):
    email = StrictEmailField(max_length=254)


class RefreshInputSerializer(serializers.Serializer):
    # Optional when the refresh cookie is present (dashboard); the CLI and SPA send it in the body.
    refresh_token = StrictCharField(max_length=4000, required=False)


class LogoutInputSerializer(serializers.Serializer):
    refresh_token = StrictCharField(max_length=4000, required=False, allow_blank=True)


class PasswordResetConfirmInputSerializer(serializers.Serializer):
    uid = StrictCharField(max_length=100)
    token = StrictCharField(max_length=100)
    new_password = StrictCharField(max_length=128, trim_whitespace=False)


# --- output ---------------------------------------------------------------------------------
class UserBriefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()


class UserSerializer(UserBriefSerializer):
    created_at = serializers.DateTimeField()


class SessionSerializer(serializers.Serializer):
    access_token = serializers.CharField()
    refresh_token = serializers.CharField()
    expires_in = serializers.IntegerField()


class LoginOutputSerializer(serializers.Serializer):
    user = UserSerializer()
    session = SessionSerializer()


class RefreshOutputSerializer(serializers.Serializer):
    session = SessionSerializer()


class SignupOutputSerializer(serializers.Serializer):
    message = serializers.CharField()
    user = UserBriefSerializer()


class SessionOrganizationSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    credits = serializers.IntegerField()


class SessionInfoSerializer(serializers.Serializer):
    user = UserBriefSerializer()
    organization = SessionOrganizationSerializer(allow_null=True)
