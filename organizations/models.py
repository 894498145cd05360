from django.conf import settings
from django.db import models

from pixell.db import TimeStampedModel


class UnscopedQueryError(RuntimeError):
    """Raised when a tenant table is queried without naming its organization."""


class OrgScopedManager(models.Manager):
    """Fails closed: ``Model.objects`` refuses to query until ``.for_org(org)`` is called.

    System code (admin, workers, sweeps) uses ``Model.all_orgs``, the greppable bypass.
    """

    def get_queryset(self):
        raise UnscopedQueryError(
            f"{self.model.__name__}.objects must be scoped: use .for_org(org), or .all_orgs for system code"
        )

    def for_org(self, org):
        if org is None:
            raise UnscopedQueryError(
                f"{self.model.__name__}.objects.for_org() needs an organization"
            )
        return super().get_queryset().filter(organization=org)


class OrgScopedModel(TimeStampedModel):
    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.CASCADE, related_name="+"
    )

    # The first manager is the default one: Django's internals (cascades, admin, related
    # managers) use it. Application code goes through ``objects.for_org``.
    all_orgs = models.Manager()
    objects = OrgScopedManager()

    class Meta:
        abstract = True


class Role(models.TextChoices):
    MEMBER = "member", "Member"
    ADMIN = "admin", "Admin"
    OWNER = "owner", "Owner"

    @classmethod
    def rank(cls, role: str) -> int:
        return {cls.MEMBER: 1, cls.ADMIN: 2, cls.OWNER: 3}[role]

    @classmethod
    def at_least(cls, role: str, required: str) -> bool:
        return cls.rank(role) >= cls.rank(required)


class Organization(TimeStampedModel):
    name = models.CharField(max_length=100)
    # The balance. It changes only in billing.services.credits_apply, which also writes the ledger
    # row; check_ledger proves balance == sum(rows).
    credits = models.BigIntegerField(default=0)
    require_signed_packages = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(credits__gte=0), name="organization_credits_non_negative"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Membership(TimeStampedModel):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    # Set by POST /api/organizations/switch; the newest one is the user's current organization.
    chosen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="membership_unique")
        ]
        indexes = [models.Index(fields=["user", "chosen_at"])]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


class Invitation(OrgScopedModel):
    email = models.EmailField(max_length=254)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    # Only a hash of the emailed token is kept, like API keys.
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "email"])]

    def __str__(self) -> str:
        return f"Invitation of {self.email} to {self.organization_id}"


class ApiKey(OrgScopedModel):
    name = models.CharField(max_length=100)
    # HMAC-SHA256 of the full key under SECRET_KEY; the key itself is never stored.
    key_hash = models.CharField(max_length=64, unique=True)
    key_preview = models.CharField(max_length=16)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.key_preview})"
