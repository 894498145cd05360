from django.contrib import admin

from billing.models import CreditTransaction


@admin.register(CreditTransaction)
class CreditTransactionAdmin(admin.ModelAdmin):
    """The ledger is append-only and written only by credits_apply: operators read it, nothing else."""

    list_display = ("created_at", "organization", "type", "amount", "balance_after", "description", "reference")
    list_filter = ("type",)
    search_fields = ("organization__name", "organization__id", "reference", "description")
    list_select_related = ("organization",)
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        return CreditTransaction.all_orgs.all()

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
