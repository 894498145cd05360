"""Credit ledger writes. ``credits_apply`` is the only code that changes a balance."""

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from agentapps.models import AgentApp
from billing.errors import (
    BillingNotConfigured,
    CheckoutInvalid,
    CheckoutOrganizationUnknown,
    InsufficientCredits,
    PaymentProviderError,
)
from billing.models import (
    CheckoutProvider,
    CheckoutSession,
    CheckoutStatus,
    CreditTransaction,
    StripeEvent,
    StripeEventStatus,
    TransactionType,
)
from organizations.models import Membership, Organization, Role
from organizations.selectors import memberships_of
from organizations.versions import organization_changed
from pixell.errors import Conflict, NotFound, PermissionDenied, ValidationError
from pixell.ids import uuid_or_none
from pixell.observability import metrics
from usage.models import UsageEvent, UsageEventType
from usage.services import usage_event_record

logger = logging.getLogger(__name__)


def credits_apply(
    *,
    organization: Organization,
    amount: int,
    type: str,
    description: str,
    reference: str | None = None,
    actor=None,
    metadata: dict | None = None,
) -> CreditTransaction:
    """Move ``amount`` credits (negative = spend) and append the ledger row, atomically.

    With a ``reference`` the movement is idempotent: a second call returns the first row unchanged.
    The returned row's ``replayed`` attribute tells the two apart (True: nothing moved this time),
    so callers record side effects (usage events, emails) only once.
    Raises InsufficientCredits when the balance cannot cover a negative amount; the balance never
    goes below zero.
    """
    if type not in TransactionType.values:
        raise ValueError(f"unknown transaction type {type!r}")
    if amount == 0 and type != TransactionType.ADJUSTMENT:
        raise ValueError("a ledger movement needs a non-zero amount")
    with transaction.atomic():
        # The row lock serializes every balance change of this organization, so concurrent
        # reservations cannot both read the same balance (on SQLite, IMMEDIATE transactions
        # serialize writers the same way).
        org = Organization.objects.select_for_update().get(pk=organization.pk)
        if reference is not None:
            existing = CreditTransaction.all_orgs.filter(reference=reference).first()
            if existing is not None:
                existing.replayed = True
                return existing
        new_balance = org.credits + amount
        if new_balance < 0:
            raise InsufficientCredits(required=-amount, available=org.credits)
        try:
            # The savepoint keeps the outer transaction usable if a concurrent writer of the
            # same reference won the unique constraint in between.
            with transaction.atomic():
                row = CreditTransaction.all_orgs.create(
                    organization=org,
                    type=type,
                    amount=amount,
                    balance_after=new_balance,
                    description=description[:255],
                    reference=reference,
                    actor=actor,
                    metadata=metadata or {},
                )
        except IntegrityError:
            if reference is None:
                raise
            existing = CreditTransaction.all_orgs.get(reference=reference)
            existing.replayed = True
            return existing
        Organization.objects.filter(pk=org.pk).update(credits=new_balance)
        organization_changed(org.pk)
        # Counted once the movement is committed (an outer transaction may still roll it back).
        if type == TransactionType.PURCHASE:
            transaction.on_commit(lambda: metrics.credits_sold(amount=amount))
        elif type == TransactionType.USAGE:
            transaction.on_commit(lambda: metrics.credits_used(amount=-amount))
    organization.credits = new_balance
    row.replayed = False
    return row


# --- Top-ups ----------------------------------------------------------------------------------

PURCHASE_DESCRIPTION = "Credit top-up"
SANDBOX_SESSION_PREFIX = "cs_sandbox_"
SANDBOX_SESSION_LIFETIME = timedelta(hours=24)  # like a Stripe Checkout Session


def checkout_reference(session_id: str) -> str:
    return f"stripe:checkout:{session_id}"


@dataclass(frozen=True)
class CheckoutStarted:
    checkout: CheckoutSession
    url: str  # where the payer goes: Stripe's hosted page, or our sandbox page


def credit_package_get(*, package: str, credits: int | None = None) -> dict:
    """The configured top-up package named ``package`` (PIXELL_CREDIT_PACKAGES), checked against
    the credits the payer was shown when they are given: the one rule of what a top-up may buy, for
    the API and the dashboard alike. Raises ValidationError naming the field at fault."""
    packages = settings.PIXELL_CREDIT_PACKAGES
    spec = packages.get(package) if isinstance(package, str) else None
    if spec is None:
        raise _field_error("package", f"Unknown package; choose one of: {', '.join(packages)}.")
    if credits is not None and credits != spec["credits"]:
        raise _field_error("credits", f"The {package} package is {spec['credits']} credits.")
    return spec


def _field_error(field: str, message: str) -> ValidationError:
    return ValidationError(f"{field}: {message}", details={field: [message]})


def checkout_session_create(
    *, organization: Organization, actor, package: str, credits: int | None = None
) -> CheckoutStarted:
    """Start a top-up of one configured package: a Stripe Checkout Session when a Stripe key is set,
    else a local sandbox session when sandbox mode is on. Raises BillingNotConfigured otherwise,
    and ValidationError for a package that is not configured (``credit_package_get``)."""
    spec = credit_package_get(package=package, credits=credits)
    currency = settings.PIXELL_CREDIT_CURRENCY
    common = dict(
        organization=organization,
        user=actor,
        package=package,
        credits=spec["credits"],
        amount_cents=spec["price_cents"],
        currency=currency,
    )
    if settings.STRIPE_SECRET_KEY:
        public = settings.PIXELL_PUBLIC_URL
        try:
            # Slow I/O: no transaction is open here (docs/ARCHITECTURE.md, habit 4).
            session = stripe.checkout.Session.create(
                api_key=settings.STRIPE_SECRET_KEY,
                mode="payment",
                line_items=[
                    {
                        "price_data": {
                            "currency": currency,
                            "unit_amount": spec["price_cents"],
                            "product_data": {
                                "name": f"Pixell credits: {package} ({spec['credits']:,} credits)"
                            },
                        },
                        "quantity": 1,
                    }
                ],
                metadata={
                    "organizationId": str(organization.pk),
                    "userId": str(actor.pk) if actor else "",
                    "credits": str(spec["credits"]),
                    "package": package,
                },
                client_reference_id=str(organization.pk),
                success_url=public
                + reverse("billing:checkout-success")
                + "?session_id={CHECKOUT_SESSION_ID}",
                cancel_url=public + reverse("billing:checkout-cancelled"),
            )
        except stripe.StripeError as exc:
            logger.error(
                "Stripe refused to create a checkout session for %s: %s", organization.pk, exc
            )
            raise PaymentProviderError() from exc
        checkout = CheckoutSession.objects.for_org(organization).create(
            session_id=session["id"], provider=CheckoutProvider.STRIPE, **common
        )
        return CheckoutStarted(checkout=checkout, url=session["url"])
    if settings.PIXELL_BILLING_SANDBOX:
        session_id = SANDBOX_SESSION_PREFIX + secrets.token_urlsafe(24)
        checkout = CheckoutSession.objects.for_org(organization).create(
            session_id=session_id, provider=CheckoutProvider.SANDBOX, **common
        )
        url = settings.PIXELL_PUBLIC_URL + reverse(
            "billing:sandbox-checkout", kwargs={"session_id": session_id}
        )
        return CheckoutStarted(checkout=checkout, url=url)
    raise BillingNotConfigured()


def _checkout_organization(*, organization_id, user_id) -> Organization:
    """The organization a paid checkout credits: ``organizationId``, else the current organization
    of ``userId`` (their chosen, else oldest, membership)."""
    if organization_id:
        pk = uuid_or_none(organization_id)
        org = Organization.objects.filter(pk=pk).first() if pk else None
        if org is None:
            raise CheckoutOrganizationUnknown(f"organization {organization_id!r} does not exist")
        return org
    if user_id:
        pk = uuid_or_none(user_id)
        user = User.objects.filter(pk=pk).first() if pk else None
        membership = memberships_of(user).first() if user is not None else None
        if membership is None:
            raise CheckoutOrganizationUnknown(
                f"user {user_id!r} does not exist or belongs to no organization"
            )
        return membership.organization
    raise CheckoutOrganizationUnknown("the session names neither an organization nor a user")


def checkout_fulfil(
    *, session_id: str, organization_id=None, user_id=None, credits, package: str = ""
) -> CreditTransaction:
    """Credit a paid checkout, exactly once per session: the webhook and the sandbox page both
    end here. Returns the purchase row (``replayed`` True when the session was already credited).

    Raises CheckoutOrganizationUnknown or CheckoutInvalid when there is nothing we can credit.
    """
    if not session_id:
        raise CheckoutInvalid("the checkout session has no id")
    try:
        amount = int(credits)
    except (TypeError, ValueError) as exc:
        raise CheckoutInvalid(f"credits {credits!r} is not a whole number") from exc
    if amount <= 0:
        raise CheckoutInvalid(f"credits {amount} is not positive")
    org = _checkout_organization(organization_id=organization_id, user_id=user_id)
    actor_id = uuid_or_none(user_id)
    actor = User.objects.filter(pk=actor_id).first() if actor_id else None
    with transaction.atomic():
        # The unique ledger reference makes this once-only under concurrent deliveries: the
        # second writer waits on the organization's row lock, then finds the first one's row.
        row = credits_apply(
            organization=org,
            amount=amount,
            type=TransactionType.PURCHASE,
            description=PURCHASE_DESCRIPTION,
            reference=checkout_reference(session_id),
            actor=actor,
            metadata={"session_id": session_id, "package": package},
        )
        if not row.replayed:
            CheckoutSession.all_orgs.filter(session_id=session_id).exclude(
                status=CheckoutStatus.COMPLETED
            ).update(status=CheckoutStatus.COMPLETED, completed_at=timezone.now())
            usage_event_record(
                organization=org,
                type=UsageEventType.PURCHASE,
                description=f"Purchased {amount:,} credits" + (f" ({package})" if package else ""),
                value=amount,
                metadata={"session_id": session_id, "package": package},
            )
    return row


def sandbox_checkout_get(*, session_id: str, user) -> CheckoutSession:
    """A pending-or-finished sandbox session the user may see (a member of its organization)."""
    checkout = (
        CheckoutSession.all_orgs.filter(session_id=session_id, provider=CheckoutProvider.SANDBOX)
        .select_related("organization")
        .first()
    )
    if (
        checkout is None
        or user is None
        or not Membership.objects.filter(
            organization_id=checkout.organization_id, user=user
        ).exists()
    ):
        raise NotFound("Checkout session not found")
    return checkout


def sandbox_checkout_pay(*, checkout: CheckoutSession, user) -> CreditTransaction:
    """The sandbox page's "Pay": the same fulfilment as a Stripe webhook.

    Payable only while the sandbox is the active provider (a session created before Stripe was
    configured must not stay a free top-up afterwards) and only by an admin or owner of the
    organization, as POST /api/credits/topup itself requires."""
    if not settings.PIXELL_BILLING_SANDBOX or settings.STRIPE_SECRET_KEY:
        raise BillingNotConfigured("Sandbox checkout is turned off on this server")
    if not Membership.objects.filter(
        organization_id=checkout.organization_id,
        user=user,
        role__in=[Role.ADMIN, Role.OWNER],
    ).exists():
        raise PermissionDenied("Only an admin or owner of the organization can pay for credits")
    if checkout.status == CheckoutStatus.CANCELLED:
        raise Conflict("This checkout session was cancelled")
    if (
        checkout.status == CheckoutStatus.PENDING
        and timezone.now() - checkout.created_at > SANDBOX_SESSION_LIFETIME
    ):
        raise Conflict("This checkout session has expired; start a new top-up")
    return checkout_fulfil(
        session_id=checkout.session_id,
        organization_id=checkout.organization_id,
        user_id=checkout.user_id or user.pk,
        credits=checkout.credits,
        package=checkout.package,
    )


def sandbox_checkout_cancel(*, checkout: CheckoutSession) -> None:
    # Compare-and-set: a session paid meanwhile stays paid.
    if not CheckoutSession.all_orgs.filter(pk=checkout.pk, status=CheckoutStatus.PENDING).update(
        status=CheckoutStatus.CANCELLED
    ):
        raise Conflict("This checkout session is already finished")


# --- Stripe webhook ---------------------------------------------------------------------------

FULFILLING_EVENTS = {"checkout.session.completed", "checkout.session.async_payment_succeeded"}


def stripe_event_process(*, event: dict) -> StripeEvent | None:
    """Act on a verified Stripe event once per event id. Returns the stored event, or None when
    this id was already handled (a retry)."""
    event_id, event_type = str(event["id"]), str(event["type"])
    obj = (event.get("data") or {}).get("object") or {}
    if not isinstance(obj, dict):
        obj = {}
    session_id = str(obj.get("id") or "")[:255]
    with transaction.atomic():
        try:
            # Claims the event id. A concurrent delivery of the same event blocks on the unique
            # index until this transaction ends, then fails here and is answered as a retry.
            with transaction.atomic():
                record = StripeEvent.objects.create(
                    event_id=event_id[:255],
                    type=event_type[:100],
                    status=StripeEventStatus.IGNORED,
                    session_id=session_id,
                    payload=event,
                )
        except IntegrityError:
            return None
        if event_type not in FULFILLING_EVENTS:
            return record
        if event_type == "checkout.session.completed" and obj.get("payment_status") != "paid":
            # Delayed payment methods: credited on checkout.session.async_payment_succeeded.
            return record
        metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        try:
            row = checkout_fulfil(
                session_id=session_id,
                organization_id=metadata.get("organizationId") or None,
                user_id=metadata.get("userId") or None,
                credits=metadata.get("credits"),
                package=str(metadata.get("package") or ""),
            )
        except (CheckoutOrganizationUnknown, CheckoutInvalid) as exc:
            # 200 to Stripe (a retry cannot help); operators must look at it.
            logger.error(
                "Stripe event %s (session %s) credited nothing: %s", event_id, session_id, exc
            )
            record.status, record.error = StripeEventStatus.FAILED, str(exc)[:500]
        else:
            record.status, record.organization_id = StripeEventStatus.PROCESSED, row.organization_id
        record.save(update_fields=["status", "error", "organization", "updated_at"])
    return record


# --- Runtime usage reports --------------------------------------------------------------------

INVOCATION_DESCRIPTION = "Agent invocation"


def invocation_report_apply(
    *, report_id: str, agent_app_id, count: int, credits: int, occurred_at, payer=None
) -> UsageEvent:
    """Charge an invocation report of the agent runtime, once per report id (docs/CONTRACT.md §6).

    ``payer``: the organization billed, when not the app's own (a public app invoked through
    ``POST /api/agent-apps/:id/invoke`` is billed to the caller's organization).
    Returns the report's usage event; a repeated id returns the first report's event unchanged.
    Raises NotFound for an unknown app and InsufficientCredits (nothing recorded) when the
    balance cannot cover the credits.
    """
    reference = f"invocation:{report_id}"
    existing = UsageEvent.all_orgs.filter(reference=reference).first()
    if existing is not None:
        return existing
    # The runtime is a system caller: the app may belong to any organization.
    pk = uuid_or_none(agent_app_id)
    app = AgentApp.all_orgs.filter(pk=pk).select_related("organization").first() if pk else None
    if app is None:
        raise NotFound("Agent app not found")
    org = payer or app.organization
    with transaction.atomic():
        if credits > 0:
            row = credits_apply(
                organization=org,
                amount=-credits,
                type=TransactionType.USAGE,
                description=INVOCATION_DESCRIPTION,
                reference=reference,
                metadata={"agent_app_id": str(app.pk), "count": count, "report_id": report_id},
            )
            balance_after = row.balance_after
        else:
            balance_after = Organization.objects.values_list("credits", flat=True).get(pk=org.pk)
        # A concurrent repeat that committed first leaves credits_apply replayed and this insert
        # colliding on the reference: both return the first report's event.
        return usage_event_record(
            organization=org,
            type=UsageEventType.INVOCATION,
            description=f"Agent '{app.name}' invoked" + (f" {count:,} times" if count != 1 else ""),
            value=count,
            credits=credits,
            agent_app_id=app.pk,
            occurred_at=occurred_at,
            reference=reference,
            metadata={"report_id": report_id, "balance_after": balance_after},
        )
