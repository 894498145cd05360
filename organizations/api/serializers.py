from datetime import UTC

from rest_framework import serializers

from organizations.models import Role
from pixell.api.fields import StrictBooleanField, StrictCharField, StrictEmailField
from pixell.api.schema import MessageSerializer  # noqa: F401 - re-exported for the views


# --- input ----------------------------------------------------------------------------------
class OrganizationUpdateInputSerializer(serializers.Serializer):
    name = StrictCharField(max_length=100, required=False, allow_blank=False)
    require_signed_packages = StrictBooleanField(required=False)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError(
                {"name": ["Give name and/or require_signed_packages."]}
            )
        return attrs


class OrganizationSwitchInputSerializer(serializers.Serializer):
    organization_id = StrictCharField(max_length=64)


class InvitationCreateInputSerializer(serializers.Serializer):
    email = StrictEmailField(max_length=254)
    role = serializers.ChoiceField(choices=Role.choices, required=False, default=Role.MEMBER)


class MemberUpdateInputSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationAcceptInputSerializer(serializers.Serializer):
    token = StrictCharField(max_length=200)


class ApiKeyCreateInputSerializer(serializers.Serializer):
    name = StrictCharField(max_length=100, allow_blank=False)


# --- output ---------------------------------------------------------------------------------
class OrganizationSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    credits = serializers.IntegerField()
    require_signed_packages = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class OrganizationCurrentOutputSerializer(serializers.Serializer):
    """Documents GET /api/organizations/current; the view renders ``organization_current_payload``."""

    organization = OrganizationSerializer()
    role = serializers.ChoiceField(choices=Role.choices)


def _iso(moment) -> str:
    # DRF's DateTimeField representation (UTC as "Z").
    value = moment.astimezone(UTC).isoformat()
    return value[:-6] + "Z" if value.endswith("+00:00") else value


def organization_current_payload(organization, role: str) -> dict:
    """What OrganizationCurrentOutputSerializer renders, built directly: this is the endpoint CI
    pipelines poll with API keys, and instantiating the nested serializer (it deep-copies its
    fields) was a measurable share of the request (benchmarks/auth_overhead.py). A test keeps the two equal."""
    return {
        "organization": {
            "id": str(organization.id),
            "name": organization.name,
            "credits": organization.credits,
            "require_signed_packages": organization.require_signed_packages,
            "created_at": _iso(organization.created_at),
            "updated_at": _iso(organization.updated_at),
        },
        "role": role,
    }


class OrganizationUpdateOutputSerializer(serializers.Serializer):
    organization = OrganizationSerializer()


class OrganizationMembershipSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="organization.id")
    name = serializers.CharField(source="organization.name")
    credits = serializers.IntegerField(source="organization.credits")
    created_at = serializers.DateTimeField(source="organization.created_at")
    role = serializers.ChoiceField(choices=Role.choices)
    current = serializers.SerializerMethodField()

    def get_current(self, membership) -> bool:
        return membership.organization_id == self.context.get("current_id")


class OrganizationListOutputSerializer(serializers.Serializer):
    organizations = OrganizationMembershipSerializer(many=True)


class MemberSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    user_id = serializers.UUIDField()
    email = serializers.EmailField(source="user.email")
    role = serializers.ChoiceField(choices=Role.choices)
    joined_at = serializers.DateTimeField(source="created_at")


class MemberListOutputSerializer(serializers.Serializer):
    members = MemberSerializer(many=True)


class MemberOutputSerializer(serializers.Serializer):
    member = MemberSerializer()


class InvitationSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices)
    expires_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    invited_by = serializers.EmailField(source="invited_by.email", allow_null=True, default=None)


class InvitationOutputSerializer(serializers.Serializer):
    invitation = InvitationSerializer()


class InvitationListOutputSerializer(serializers.Serializer):
    invitations = InvitationSerializer(many=True)


class ApiKeySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    key_preview = serializers.CharField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class ApiKeyListOutputSerializer(serializers.Serializer):
    apiKeys = ApiKeySerializer(many=True)


class ApiKeyCreatedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    key = serializers.CharField(help_text="The full key. Shown only in this response.")
    key_preview = serializers.CharField()
    created_at = serializers.DateTimeField()


class ApiKeyCreateOutputSerializer(serializers.Serializer):
    apiKey = ApiKeyCreatedSerializer()


class ApiKeyRotatedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    key = serializers.CharField(help_text="The new full key. Shown only in this response.")
    key_preview = serializers.CharField()
    rotated_at = serializers.DateTimeField()


class ApiKeyRotateOutputSerializer(serializers.Serializer):
    apiKey = ApiKeyRotatedSerializer()
