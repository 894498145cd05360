"""Operator admin. Querysets go through ``all_orgs`` (the system bypass of tenant scoping); key
material never appears (only key_preview); credits change only through the ledger."""

from django.contrib import admin, messages
from django.utils import timezone

from organizations import services
from organizations.models import ApiKey, Invitation, Membership, Organization
from organizations.versions import organization_changed


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ("user", "role", "chosen_at", "created_at")
    readonly_fields = ("chosen_at", "created_at")
    raw_id_fields = ("user",)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "id", "credits", "require_signed_packages", "created_at")
    search_fields = ("name", "id", "memberships__user__email")
    # Balances move only through billing.services.credits_apply (ledger row + balance together).
    readonly_fields = ("id", "credits", "created_at", "updated_at")
    fields = ("id", "name", "credits", "require_signed_packages", "created_at", "updated_at")
    inlines = [MembershipInline]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change:
            organization_changed(obj.pk)  # API-key identity caches must see the new name/settings

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        organization_changed(obj.pk)  # its API keys must fail at once in every process

    def delete_queryset(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        super().delete_queryset(request, queryset)
        for organization_id in ids:
            organization_changed(organization_id)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "organization", "role", "created_at")
    list_filter = ("role",)
    search_fields = ("user__email", "organization__name")
    raw_id_fields = ("user", "organization")
    list_select_related = ("user", "organization")


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("email", "organization", "role", "status", "expires_at", "created_at")
    list_filter = ("role",)
    search_fields = ("email", "organization__name")
    list_select_related = ("organization",)
    # The token exists only in the email; its hash is useless to an operator.
    exclude = ("token_hash",)
    readonly_fields = (
        "organization",
        "email",
        "role",
        "invited_by",
        "expires_at",
        "accepted_at",
        "accepted_by",
        "revoked_at",
        "created_at",
    )
    actions = ["revoke"]

    def get_queryset(self, request):
        return Invitation.all_orgs.all()

    def has_add_permission(self, request):
        return False  # invitations are created by members, with an emailed token

    @admin.display(description="status")
    def status(self, obj):
        if obj.accepted_at:
            return "accepted"
        if obj.revoked_at:
            return "revoked"
        return "expired" if obj.expires_at <= timezone.now() else "pending"

    @admin.action(description="Revoke selected pending invitations")
    def revoke(self, request, queryset):
        count = 0
        for invitation in queryset.filter(accepted_at__isnull=True, revoked_at__isnull=True):
            services.invitation_revoke(invitation=invitation, actor=request.user)
            count += 1
        self.message_user(request, f"Revoked {count} invitation(s).", messages.SUCCESS)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "key_preview",
        "organization",
        "last_used_at",
        "rotated_at",
        "created_at",
    )
    search_fields = ("name", "key_preview", "organization__name")
    list_select_related = ("organization",)
    exclude = ("key_hash",)
    readonly_fields = (
        "organization",
        "name",
        "key_preview",
        "created_by",
        "last_used_at",
        "rotated_at",
        "created_at",
    )
    actions = ["revoke"]

    def get_queryset(self, request):
        return ApiKey.all_orgs.all()

    def has_add_permission(self, request):
        return False  # a key is shown once to the user who creates it; operators never see one

    def has_delete_permission(self, request, obj=None):
        return False  # deletion goes through the revoke action (service: usage event recorded)

    @admin.action(description="Revoke (delete) selected API keys")
    def revoke(self, request, queryset):
        count = 0
        for key in queryset.select_related("organization"):
            services.api_key_delete(api_key=key, actor=request.user)
            count += 1
        self.message_user(
            request, f"Revoked {count} API key(s); they fail at once.", messages.SUCCESS
        )
