"""Credits and billing API (docs/API.md §6, §8; docs/CONTRACT.md §6). Thin: parse, call one service, render."""

import json
import logging

import stripe
from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import selectors, services
from billing.api import serializers as s
from organizations.models import Role
from pixell.api import machine
from pixell.api.exceptions import json_error
from pixell.api.machine import MachineAPIView
from pixell.api.pagination import paginate, parse_limit
from pixell.api.schema import errors
from pixell.api.viewsets import OrgScopedAPIView
from pixell.errors import ValidationError

logger = logging.getLogger(__name__)

_PAGE_PARAMS = [
    OpenApiParameter(
        "limit", {"type": "integer", "minimum": 1, "maximum": 100}, description="1–100, default 50"
    ),
    OpenApiParameter("cursor", str, description="next_cursor of the previous page"),
]


class CreditBalanceView(OrgScopedAPIView):
    @extend_schema(responses={200: s.BalanceOutputSerializer, **errors(401, 404)})
    def get(self, request):
        return Response(
            s.BalanceOutputSerializer(
                selectors.credits_balance_summary(organization=self.organization)
            ).data
        )


class CreditHistoryView(OrgScopedAPIView):
    @extend_schema(
        parameters=_PAGE_PARAMS, responses={200: s.HistoryOutputSerializer, **errors(400, 401, 404)}
    )
    def get(self, request):
        rows, next_cursor = paginate(
            selectors.credit_transactions_queryset(organization=self.organization),
            cursor=request.query_params.get("cursor"),
            limit=parse_limit(request.query_params.get("limit")),
        )
        return Response(
            s.HistoryOutputSerializer({"transactions": rows, "next_cursor": next_cursor}).data
        )


class CreditTopupView(OrgScopedAPIView):
    required_roles = {"POST": Role.ADMIN}

    @extend_schema(
        request=s.TopupInputSerializer,
        responses={
            200: s.TopupOutputSerializer,
            **errors(400, 401, 403, 404, 502),
            503: OpenApiResponse(
                description="No payment provider configured (neither Stripe nor sandbox)"
            ),
        },
    )
    def post(self, request):
        serializer = s.TopupInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        started = services.checkout_session_create(
            organization=self.organization,
            actor=self.actor,
            package=serializer.validated_data["package"],
            credits=serializer.validated_data["credits"],
        )
        return Response(
            s.TopupOutputSerializer(
                {"sessionUrl": started.url, "sessionId": started.checkout.session_id}
            ).data
        )


class StripeWebhookView(APIView):
    """Called by Stripe: no authentication but the signature, no rate limit, no CSRF (DRF views
    without session authentication are CSRF-exempt)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request={"application/json": dict},
        parameters=[
            OpenApiParameter(
                "Stripe-Signature",
                str,
                OpenApiParameter.HEADER,
                required=True,
                description="t=<unix time>,v1=<HMAC-SHA256 hex>",
            )
        ],
        responses={
            200: s.WebhookReceivedSerializer,
            **errors(400),
            503: OpenApiResponse(description="STRIPE_WEBHOOK_SECRET unset"),
        },
    )
    def post(self, request):
        secret = settings.STRIPE_WEBHOOK_SECRET
        if not secret:
            # Not 400: Stripe keeps retrying a 5xx for days, so nothing is lost once configured.
            logger.error("A Stripe webhook arrived but STRIPE_WEBHOOK_SECRET is not set")
            return json_error(
                503, "Stripe webhooks are not configured on this server", "INTERNAL_ERROR"
            )
        signature = request.headers.get("Stripe-Signature")
        if not signature:
            raise ValidationError(
                "Missing Stripe-Signature header",
                details={"Stripe-Signature": ["This header is required."]},
            )
        payload = request.body  # the raw bytes: the signature covers them exactly
        try:
            stripe.Webhook.construct_event(payload, signature, secret)  # default tolerance: 300 s
            event = json.loads(payload)
        except stripe.SignatureVerificationError as exc:
            raise ValidationError(
                "Invalid Stripe signature", details={"Stripe-Signature": [str(exc)[:200]]}
            ) from exc
        except (ValueError, AttributeError, TypeError, KeyError) as exc:
            # Not UTF-8, not JSON, or JSON that is not an object (the library chokes on arrays).
            raise ValidationError("Malformed webhook payload") from exc
        if (
            not isinstance(event, dict)
            or not isinstance(event.get("id"), str)
            or not isinstance(event.get("type"), str)
        ):
            raise ValidationError("Malformed Stripe event: id and type are required")
        services.stripe_event_process(event=event)
        return Response({"received": True})


class RuntimeInvocationsView(MachineAPIView):
    """The agent runtime reports invocations; it authenticates with PIXELL_RUNTIME_SECRET only."""

    machine_scope = machine.RUNTIME

    @extend_schema(
        request=s.InvocationReportInputSerializer,
        responses={200: s.InvocationReportOutputSerializer, **errors(400, 401, 402, 404, 429)},
        auth=[],
        description="Called by the agent runtime with `Authorization: Bearer <PIXELL_RUNTIME_SECRET>`. "
        "`id` makes a report idempotent: a repeated id returns the first report's answer and charges nothing. "
        "Limited to PIXELL_RATE_LIMIT_RUNTIME; wrong secrets are throttled per address (429).",
    )
    def post(self, request):
        serializer = s.InvocationReportInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        event = services.invocation_report_apply(
            report_id=data["id"],
            agent_app_id=data["agent_app_id"],
            count=data["count"],
            credits=data["credits"],
            occurred_at=data["timestamp"],
        )
        # Built from the stored event, so a repeated report gets the first report's answer.
        return Response(
            s.InvocationReportOutputSerializer(
                {
                    "id": event.metadata.get("report_id"),
                    "agent_app_id": event.agent_app_id,
                    "count": event.value,
                    "credits": event.credits,
                    "balance_after": event.metadata.get("balance_after"),
                    "timestamp": event.occurred_at,
                }
            ).data
        )
