from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect

from billing.errors import InsufficientCredits
from billing.models import (
    CheckoutSession,
    CreditAdjustment,
    CreditTransaction,
    StripeEvent,
    TransactionType,
)
from billing.services import credits_apply
from pixell.admin_readonly import ReadOnlyModelAdmin


@admin.register(CreditTransaction)
class CreditTransactionAdmin(ReadOnlyModelAdmin):
    """The ledger is append-only and written only by credits_apply: operators read it, nothing else."""

    list_display = (
        "created_at",
        "organization",
        "type",
        "amount",
        "balance_after",
        "description",
        "reference",
    )
    list_filter = ("type",)
    search_fields = ("organization__name", "organization__id", "reference", "description")
    list_select_related = ("organization",)
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        return CreditTransaction.all_orgs.all()


class CreditAdjustmentForm(forms.ModelForm):
    amount = forms.IntegerField(
        help_text="Credits to add (positive) or remove (negative). The balance cannot go below zero."
    )
    reason = forms.CharField(
        max_length=255, help_text="Why: shown in the organization's credit history."
    )

    class Meta:
        model = CreditAdjustment
        fields = ("organization", "amount")

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError("An adjustment moves at least one credit.")
        return amount

    def clean(self):
        cleaned = super().clean()
        org, amount = cleaned.get("organization"), cleaned.get("amount")
        if org is not None and amount is not None and org.credits + amount < 0:
            raise forms.ValidationError(
                f"{org.name} has {org.credits} credits; it cannot lose {-amount}."
            )
        return cleaned


@admin.register(CreditAdjustment)
class CreditAdjustmentAdmin(admin.ModelAdmin):
    """Operators grant or take back credits here. Every adjustment goes through credits_apply (an
    ``adjustment`` ledger row with the reason as its description); rows are never edited."""

    form = CreditAdjustmentForm
    list_display = ("created_at", "organization", "amount", "balance_after", "description", "actor")
    search_fields = ("organization__name", "organization__id", "description")
    list_select_related = ("organization", "actor")
    raw_id_fields = ("organization",)
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        return CreditAdjustment.all_orgs.filter(type=TransactionType.ADJUSTMENT)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("organization", "amount", "reason")
        return ("organization", "amount", "balance_after", "description", "actor", "created_at")

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.get_fields(request, obj)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        try:
            row = credits_apply(
                organization=form.cleaned_data["organization"],
                amount=form.cleaned_data["amount"],
                type=TransactionType.ADJUSTMENT,
                description=form.cleaned_data["reason"],
                actor=request.user,
                metadata={"source": "admin"},
            )
        except InsufficientCredits as exc:
            # The balance fell between the form's check and the write: nothing moved.
            messages.error(
                request,
                f"Nothing was adjusted: {exc.message} (available {exc.extra['available']}).",
            )
            raise _AdjustmentRefused from exc
        # The admin logs and links the object it saved: make that the ledger row just written.
        obj.pk, obj.created_at, obj.balance_after, obj.description = (
            row.pk,
            row.created_at,
            row.balance_after,
            row.description,
        )

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except _AdjustmentRefused:
            return HttpResponseRedirect(request.get_full_path())


class _AdjustmentRefused(Exception):
    pass


@admin.register(CheckoutSession)
class CheckoutSessionAdmin(ReadOnlyModelAdmin):
    """Purchases: every top-up started (Stripe or sandbox) and whether it was paid."""

    list_display = (
        "created_at",
        "organization",
        "user",
        "package",
        "credits",
        "price_display",
        "provider",
        "status",
        "completed_at",
    )
    list_filter = ("status", "provider", "package")
    search_fields = ("session_id", "organization__name", "organization__id", "user__email")
    list_select_related = ("organization", "user")
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        return CheckoutSession.all_orgs.all()


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyModelAdmin):
    """Every Stripe event received once; ``failed`` ones credited nothing and say why."""

    list_display = (
        "created_at",
        "event_id",
        "type",
        "status",
        "organization",
        "session_id",
        "error",
    )
    list_filter = ("status", "type")
    search_fields = ("event_id", "session_id", "organization__name")
    list_select_related = ("organization",)
    date_hierarchy = "created_at"
