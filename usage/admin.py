from django.contrib import admin

from usage.models import ApiCallDaily, UsageDaily, UsageEvent, UsageExport


class _ReadOnlyAdmin(admin.ModelAdmin):
    """Usage is a record of what happened: operators read it; only the services write it."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(UsageEvent)
class UsageEventAdmin(_ReadOnlyAdmin):
    list_display = ("occurred_at", "organization", "type", "description", "value", "credits")
    list_filter = ("type",)
    search_fields = ("organization__id", "description", "reference")
    list_select_related = ("organization",)
    date_hierarchy = "occurred_at"
    # Organizations may hold millions of events: no COUNT(*) of the whole table per page.
    show_full_result_count = False

    def get_queryset(self, request):
        return UsageEvent.all_orgs.all()


@admin.register(UsageDaily)
class UsageDailyAdmin(_ReadOnlyAdmin):
    list_display = ("day", "organization", "type", "events", "value", "credits")
    list_filter = ("type",)
    search_fields = ("organization__id", "organization__name")
    list_select_related = ("organization",)
    date_hierarchy = "day"

    def get_queryset(self, request):
        return UsageDaily.all_orgs.all()


@admin.register(ApiCallDaily)
class ApiCallDailyAdmin(_ReadOnlyAdmin):
    list_display = ("day", "organization", "count")
    search_fields = ("organization__id", "organization__name")
    list_select_related = ("organization",)
    date_hierarchy = "day"

    def get_queryset(self, request):
        return ApiCallDaily.all_orgs.all()


@admin.register(UsageExport)
class UsageExportAdmin(_ReadOnlyAdmin):
    list_display = ("created_at", "organization", "requested_by", "format", "start_date", "end_date", "rows", "size", "expires_at", "deleted_at")
    list_filter = ("format",)
    search_fields = ("organization__id", "organization__name", "requested_by__email")
    list_select_related = ("organization", "requested_by")

    def get_queryset(self, request):
        return UsageExport.all_orgs.all()
