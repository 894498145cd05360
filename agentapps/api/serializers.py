"""Input and output shapes of the agent-app API (docs/API.md §4–5, docs/CONTRACT.md §4). Output fields are listed
explicitly: what a client sees never grows by accident."""

from django.core.files.uploadedfile import UploadedFile
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from agentapps import services
from agentapps.uploads import raise_if_upload_too_large
from pixell.api.fields import StrictBooleanField, StrictCharField

# --- apps -------------------------------------------------------------------------------------------


class AppCreateInputSerializer(serializers.Serializer):
    name = StrictCharField(max_length=100)
    description = StrictCharField(max_length=2000, required=False, allow_blank=True, default="")
    is_public = StrictBooleanField(required=False, default=False)


class AppUpdateInputSerializer(serializers.Serializer):
    name = StrictCharField(max_length=100, required=False)
    description = StrictCharField(max_length=2000, required=False, allow_blank=True)
    is_public = StrictBooleanField(required=False)


class PackageBriefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    version = serializers.CharField()
    created_at = serializers.DateTimeField()


class PackageSerializer(serializers.Serializer):
    """A package as every endpoint shows it: docs/API.md's fields plus sha256 and status."""

    id = serializers.UUIDField()
    version = serializers.CharField()
    s3_url = serializers.SerializerMethodField(
        help_text="Download link: presigned S3 URL, or a signed link to this server; expires after an hour."
    )
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    status = serializers.CharField(help_text="uploading (its deployment runs), ready, or failed")
    created_at = serializers.DateTimeField()

    def get_s3_url(self, package) -> str:
        return services.package_download_url(package=package, request=self.context.get("request"))


class PackageUploadedSerializer(PackageSerializer):
    warnings = serializers.ListField(child=serializers.CharField())


class AppListItemSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    description = serializers.CharField()
    is_public = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    packages = PackageBriefSerializer(many=True, source="live_packages")


class AppCreatedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    description = serializers.CharField()
    is_public = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class AppDetailSerializer(AppCreatedSerializer):
    packages = PackageSerializer(many=True, source="live_packages")


class AppUpdatedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    description = serializers.CharField()
    is_public = serializers.BooleanField()
    updated_at = serializers.DateTimeField()


class AppListOutputSerializer(serializers.Serializer):
    apps = AppListItemSerializer(many=True)


class AppOutputSerializer(serializers.Serializer):
    app = AppDetailSerializer()


class AppCreatedOutputSerializer(serializers.Serializer):
    app = AppCreatedSerializer()


class AppUpdatedOutputSerializer(serializers.Serializer):
    app = AppUpdatedSerializer()


# --- packages ---------------------------------------------------------------------------------------


@extend_schema_field(OpenApiTypes.BINARY)
class SignatureField(serializers.Field):
    """The detached signature: a file part (as the Kit and curl -F sig=@file send it) or a text
    field holding its base64. Either way the raw bytes go to verification."""

    default_error_messages = {"invalid": "Must be a file or a base64 string."}

    def to_internal_value(self, data):
        if isinstance(data, UploadedFile):
            data.seek(0)
            return data.read()
        if isinstance(data, str):
            return data.strip().encode("utf-8") or None  # an empty text field means unsigned
        self.fail("invalid")

    def to_representation(self, value):  # an input-only field: never serialized
        return None


class PackageFormSerializer(serializers.Serializer):
    """multipart/form-data of POST …/packages (and the deploy form's shared part)."""

    file = serializers.FileField(
        allow_empty_file=False, use_url=False, help_text="The .apkg archive"
    )
    version = StrictCharField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text="Must equal the manifest's metadata.version when given",
    )
    release_notes = StrictCharField(max_length=5000, required=False, allow_blank=True, default="")
    force_overwrite = StrictBooleanField(
        required=False, default=False, help_text="true replaces an existing version"
    )
    signature = SignatureField(
        required=False, help_text="Detached Ed25519 signature: raw 64 bytes or base64"
    )


def parse_package_form(request, serializer_class=PackageFormSerializer) -> dict:
    """Parse a package form: refuses oversized files first (PACKAGE_VALIDATION_FAILED), then shape
    errors (missing/empty file, wrong field type: VALIDATION_ERROR). Returns upload, version,
    release_notes, force_overwrite, signature (bytes or None) and any extra fields of the class."""
    data = request.data  # parses the body through the size-limiting upload handler
    raise_if_upload_too_large(request)
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    values = dict(serializer.validated_data)
    values["upload"] = values.pop("file")
    values["version"] = values.get("version") or None
    values["signature"] = values.get("signature")
    return values


class PackageUploadOutputSerializer(serializers.Serializer):
    package = PackageUploadedSerializer()


class PackageListOutputSerializer(serializers.Serializer):
    packages = PackageSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)


# --- signing keys -----------------------------------------------------------------------------------


class SigningKeyInputSerializer(serializers.Serializer):
    name = StrictCharField(max_length=100)
    public_key = StrictCharField(
        max_length=2000,
        help_text="PEM (BEGIN PUBLIC KEY), or base64 of the raw 32-byte Ed25519 key",
    )


class SigningKeySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    fingerprint = serializers.CharField(help_text="sha256 hex of the raw 32-byte public key")
    created_at = serializers.DateTimeField()


class SigningKeyOutputSerializer(serializers.Serializer):
    signing_key = SigningKeySerializer()


class SigningKeyListOutputSerializer(serializers.Serializer):
    signing_keys = SigningKeySerializer(many=True)


# --- app secrets (the Kit's `pixell secrets`) ----------------------------------------------------------


class SecretsInputSerializer(serializers.Serializer):
    secrets = serializers.DictField(
        child=serializers.JSONField(), allow_empty=True, help_text="KEY → string value"
    )


class SecretValueInputSerializer(serializers.Serializer):
    # Secrets are opaque: never trimmed or otherwise rewritten.
    value = StrictCharField(
        allow_blank=True, trim_whitespace=False, max_length=services.MAX_SECRET_VALUE_LENGTH
    )


class SecretsOutputSerializer(serializers.Serializer):
    secrets = serializers.DictField(child=serializers.CharField())


class SecretsSetOutputSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    secretCount = serializers.IntegerField()


class SecretKeyOutputSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    key = serializers.CharField()


class SuccessSerializer(serializers.Serializer):
    success = serializers.BooleanField()
