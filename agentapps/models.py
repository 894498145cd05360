from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from organizations.models import OrgScopedModel


class AgentApp(OrgScopedModel):
    name = models.CharField(max_length=100)
    description = models.TextField(max_length=2000, blank=True, default="")
    is_public = models.BooleanField(default=False)
    # The version the runtime serves: set when a deployment finalizes.
    current_package = models.ForeignKey(
        "agentapps.Package", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "organization", Lower("name"), name="agentapp_name_unique_per_org"
            )
        ]
        indexes = [models.Index(fields=["organization", "-created_at"])]

    def __str__(self) -> str:
        return self.name


def package_upload_to(instance: "Package", filename: str) -> str:
    # docs/CONTRACT.md §4: object keys packages/<org>/<app>/<version>/<file>.
    return (
        f"packages/{instance.organization_id}/{instance.agent_app_id}/{instance.version}/{filename}"
    )


class PackageStatus(models.TextChoices):
    UPLOADING = "uploading", "Uploading"  # stored, its deployment not yet finalized
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class Package(OrgScopedModel):
    agent_app = models.ForeignKey(AgentApp, on_delete=models.CASCADE, related_name="packages")
    version = models.CharField(max_length=64)
    file = models.FileField(upload_to=package_upload_to, max_length=500)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    status = models.CharField(
        max_length=12, choices=PackageStatus.choices, default=PackageStatus.READY
    )
    manifest = models.JSONField(default=dict, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    release_notes = models.TextField(max_length=5000, blank=True, default="")
    signed = models.BooleanField(default=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Soft delete keeps deployment history intact; the stored file is removed at deletion.
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # A version exists once per app among live packages (a deleted or failed one does not
            # count, docs/CONTRACT.md §4), enforced by the database against concurrent uploads.
            models.UniqueConstraint(
                fields=["agent_app", "version"],
                condition=models.Q(deleted_at__isnull=True) & ~models.Q(status="failed"),
                name="package_version_unique_live",
            )
        ]
        indexes = [models.Index(fields=["agent_app", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.agent_app_id}@{self.version}"


class SigningKey(OrgScopedModel):
    """An Ed25519 public key that verifies detached package signatures (docs/CONTRACT.md §4)."""

    name = models.CharField(max_length=100)
    # The raw 32-byte public key, base64: what verification needs, whatever form was submitted.
    public_key = models.CharField(max_length=64)
    # sha256 hex of the raw 32 bytes (docs/DECISIONS.md): one key is registered once per organization.
    fingerprint = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "fingerprint"], name="signingkey_unique_per_org"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.fingerprint[:16]}…)"


class AppSecret(OrgScopedModel):
    """One environment variable handed to an app's runtime. The value is stored only encrypted."""

    agent_app = models.ForeignKey(AgentApp, on_delete=models.CASCADE, related_name="secrets")
    key = models.CharField(max_length=128)
    # A Fernet token (agentapps.crypto): never the plaintext, never shown in admin.
    value_encrypted = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["agent_app", "key"], name="appsecret_key_unique_per_app"
            )
        ]

    def __str__(self) -> str:
        return f"{self.key} = ****"
