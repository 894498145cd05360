"""The operators' read-only admin pages: records that only services write (the credit ledger,
purchases, Stripe events, usage). Operators read them; nothing is added, changed or deleted here."""

from django.contrib import admin


class ReadOnlyModelAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
