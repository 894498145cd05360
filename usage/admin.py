from django.contrib import admin

from pixell.admin_readonly import ReadOnlyModelAdmin
from usage.models import ApiCallDaily, UsageDaily, UsageEvent, UsageExport


@admin.register(UsageEvent)
class UsageEventAdmin(ReadOnlyModelAdmin):
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
class UsageDailyAdmin(ReadOnlyModelAdmin):
    list_display = ("day", "organization", "type", "events", "value", "credits")
    list_filter = ("type",)
    search_fields = ("organization__id", "organization__name")
    list_select_related = ("organization",)
    date_hierarchy = "day"

    def get_queryset(self, request):
        return UsageDaily.all_orgs.all()


@admin.register(ApiCallDaily)
class ApiCallDailyAdmin(ReadOnlyModelAdmin):
    list_display = ("day", "organization", "count")
    search_fields = ("organization__id", "organization__name")
    list_select_related = ("organization",)
    date_hierarchy = "day"

    def get_queryset(self, request):
        return ApiCallDaily.all_orgs.all()


@admin.register(UsageExport)
class UsageExportAdmin(ReadOnlyModelAdmin):
    list_display = (
        "created_at",
        "organization",
        "requested_by",
        "format",
        "start_date",
        "end_date",
        "rows",
        "size",
        "expires_at",
        "deleted_at",
    )
    list_filter = ("format",)
    search_fields = ("organization__id", "organization__name", "requested_by__email")
    list_select_related = ("organization", "requested_by")

    def get_queryset(self, request):
        return UsageExport.all_orgs.all()
