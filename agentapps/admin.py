"""Operator admin for agent apps. Querysets go through ``all_orgs`` (the system bypass of tenant
scoping). Secret values are never shown, in clear or encrypted. Deletions go through the services,
so stored files are removed with their rows and packages are soft-deleted (deployments keep them)."""

import json

from django.contrib import admin, messages
from django.utils.html import format_html

from agentapps import services
from agentapps.errors import PackageBeingDeployed
from agentapps.models import AgentApp, AppSecret, Package, SigningKey

MASK = "••••••••"


def _download_link(package: Package):
    if package.deleted_at is not None or not package.file:
        return "—"
    return format_html('<a href="{}">download</a>', services.package_download_url(package=package))


class PackageInline(admin.TabularInline):
    model = Package
    extra = 0
    can_delete = False
    show_change_link = True
    fields = (
        "version",
        "status",
        "size",
        "sha256",
        "signed",
        "created_at",
        "deleted_at",
        "download",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return Package.all_orgs.all().order_by("-created_at")

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="download")
    def download(self, obj):
        return _download_link(obj)


class AppSecretInline(admin.TabularInline):
    model = AppSecret
    extra = 0
    can_delete = True
    fields = ("key", "value", "updated_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return AppSecret.all_orgs.all().order_by("key")

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="value")
    def value(self, obj):
        return MASK


@admin.register(AgentApp)
class AgentAppAdmin(admin.ModelAdmin):
    list_display = ("name", "organization", "is_public", "created_at")
    list_filter = ("is_public",)
    search_fields = ("name", "id", "organization__name")
    list_select_related = ("organization",)
    fields = (
        "id",
        "organization",
        "name",
        "description",
        "is_public",
        "current_package",
        "created_by",
        "created_at",
        "updated_at",
    )
    readonly_fields = (
        "id",
        "organization",
        "current_package",
        "created_by",
        "created_at",
        "updated_at",
    )
    inlines = [PackageInline, AppSecretInline]

    def get_queryset(self, request):
        return AgentApp.all_orgs.all()

    def has_add_permission(self, request):
        return False  # apps belong to an organization and are created through the API

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # Packages cannot be deleted one by one here (soft delete only), yet they go with their app.
        perms_needed.discard(str(Package._meta.verbose_name))
        return deleted, counts, perms_needed, protected

    def delete_model(self, request, obj):
        services.agent_app_delete(agent_app=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for app in queryset:
            services.agent_app_delete(agent_app=app, actor=request.user)


@admin.register(Package)
class PackageAdmin(admin.ModelAdmin):
    list_display = (
        "agent_app",
        "version",
        "status",
        "size",
        "signed",
        "organization",
        "created_at",
        "deleted_at",
    )
    list_filter = ("status", "signed")
    search_fields = ("agent_app__name", "version", "sha256", "id")
    list_select_related = ("agent_app", "organization")
    fields = (
        "id",
        "organization",
        "agent_app",
        "version",
        "status",
        "size",
        "sha256",
        "signed",
        "download",
        "storage_key",
        "release_notes",
        "warnings_list",
        "manifest_json",
        "uploaded_by",
        "created_at",
        "deleted_at",
    )
    readonly_fields = fields
    actions = ["soft_delete"]

    def get_queryset(self, request):
        return Package.all_orgs.all()

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        # A hard delete would cascade into deployment history: packages are soft-deleted (action).
        return False

    @admin.display(description="download")
    def download(self, obj):
        return _download_link(obj)

    @admin.display(description="storage key")
    def storage_key(self, obj):
        return obj.file.name

    @admin.display(description="manifest")
    def manifest_json(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.manifest, indent=2, sort_keys=True))

    @admin.display(description="warnings")
    def warnings_list(self, obj):
        return format_html("<pre>{}</pre>", "\n".join(obj.warnings) or "—")

    @admin.action(description="Delete selected packages (their files are removed)")
    def soft_delete(self, request, queryset):
        done = refused = 0
        for package in queryset.filter(deleted_at__isnull=True):
            try:
                services.package_delete(package=package, actor=request.user)
                done += 1
            except PackageBeingDeployed:
                refused += 1
        self.message_user(request, f"{done} package(s) deleted.")
        if refused:
            self.message_user(
                request, f"{refused} package(s) are being deployed and were kept.", messages.WARNING
            )


@admin.register(SigningKey)
class SigningKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "organization", "fingerprint", "created_at")
    search_fields = ("name", "fingerprint", "organization__name")
    list_select_related = ("organization",)
    readonly_fields = (
        "id",
        "organization",
        "name",
        "public_key",
        "fingerprint",
        "created_by",
        "created_at",
    )
    fields = readonly_fields

    def get_queryset(self, request):
        return SigningKey.all_orgs.all()

    def has_add_permission(self, request):
        return False


@admin.register(AppSecret)
class AppSecretAdmin(admin.ModelAdmin):
    list_display = ("key", "value", "agent_app", "organization", "updated_at")
    search_fields = ("key", "agent_app__name", "organization__name")
    list_select_related = ("agent_app", "organization")
    # value_encrypted is excluded everywhere: an operator never sees a secret, not even encrypted.
    fields = ("id", "organization", "agent_app", "key", "value", "created_at", "updated_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return AppSecret.all_orgs.all()

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="value")
    def value(self, obj):
        return MASK
