"""Deployments, queue, cron and webhook endpoints (docs/API.md §5, §9–§11; docs/CONTRACT.md §5, §7).

Thin: parse, call one service or selector, render with deployments.presenters.
"""

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from deployments import delivery, queue, selectors, services
from deployments.api import serializers as s
from deployments.models import WebhookDelivery
from deployments.presenters import delivery_body, deployment_body, iso, webhook_body
from organizations.models import Role
from pixell.api import machine
from pixell.api.machine import MachineAPIView
from pixell.api.pagination import parse_limit
from pixell.api.schema import MessageSerializer, errors
from pixell.api.viewsets import OrgScopedAPIView
from pixell.errors import ValidationError

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY_LENGTH = 255

_PAGE_PARAMETERS = [
    OpenApiParameter(
        "limit", {"type": "integer", "minimum": 1, "maximum": 100}, description="1–100, default 50"
    ),
    OpenApiParameter("cursor", OpenApiTypes.STR, description="next_cursor of the previous page"),
]


def _parse(serializer_class, request):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class DeployView(OrgScopedAPIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": s.DeployInputSerializer},
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=False
            )
        ],
        responses={
            202: s.DeployAcceptedSerializer,
            200: OpenApiResponse(
                s.DryRunSerializer, description="dry_run=true: validation and cost quote only"
            ),
            402: OpenApiResponse(s.InsufficientCreditsSerializer, description="Not enough credits"),
            **errors(400, 401, 403, 404, 409, 429),
        },
        summary="Deploy a package",
    )
    def post(self, request, app_id):
        agent_app = selectors.agent_app_of_org(organization=self.organization, app_id=app_id)
        data = _parse(s.DeployInputSerializer, request)
        version = data.get("version") or None
        if data["dry_run"]:
            return Response(
                services.deployment_dry_run(
                    organization=self.organization,
                    agent_app=agent_app,
                    upload=data["file"],
                    version=version,
                    force_overwrite=data["force_overwrite"],
                    signature=data.get("signature"),
                ),
                status=200,
            )
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is not None:
            key = key.strip()
            if not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
                raise ValidationError(
                    f"{IDEMPOTENCY_HEADER} must be 1–{MAX_IDEMPOTENCY_KEY_LENGTH} characters",
                    details={IDEMPOTENCY_HEADER: ["Invalid length."]},
                )
            if not key.isprintable():
                # Control characters (a NUL cannot even be stored by PostgreSQL) are no key.
                raise ValidationError(
                    f"{IDEMPOTENCY_HEADER} must be printable characters",
                    details={IDEMPOTENCY_HEADER: ["Invalid characters."]},
                )
        result = services.deployment_create(
            organization=self.organization,
            agent_app=agent_app,
            actor=self.actor,
            upload=data["file"],
            version=version,
            release_notes=data.get("release_notes", ""),
            force_overwrite=data["force_overwrite"],
            environment=data.get("environment") or {},
            signature=data.get("signature"),
            idempotency_key=key,
        )
        response = Response(result.body, status=result.status_code)
        if result.replayed:
            response["Idempotent-Replayed"] = "true"
        return response


class DeploymentDetailView(OrgScopedAPIView):
    @extend_schema(
        responses={200: s.DeploymentEnvelopeSerializer, **errors(401, 404, 429)},
        summary="Deployment status",
    )
    def get(self, request, deployment_id):
        deployment = selectors.deployment_get(
            organization=self.organization, deployment_id=deployment_id
        )
        return Response(
            {
                "deployment": deployment_body(
                    deployment, queue_position=selectors.queue_position(deployment)
                )
            }
        )


class DeploymentCancelView(OrgScopedAPIView):
    @extend_schema(
        request=None,
        responses={200: s.DeploymentEnvelopeSerializer, **errors(401, 404, 409, 429)},
        summary="Cancel a queued deployment",
    )
    def post(self, request, deployment_id):
        deployment = selectors.deployment_get(
            organization=self.organization, deployment_id=deployment_id
        )
        deployment = services.deployment_cancel(deployment=deployment, actor=self.actor)
        return Response({"deployment": deployment_body(deployment)})


class AppDeploymentsView(OrgScopedAPIView):
    @extend_schema(
        parameters=_PAGE_PARAMETERS,
        responses={200: s.DeploymentListSerializer, **errors(400, 401, 404, 429)},
        summary="An app's deployments, newest first",
    )
    def get(self, request, app_id):
        agent_app = selectors.agent_app_of_org(organization=self.organization, app_id=app_id)
        rows, next_cursor = selectors.deployment_list_for_app(
            organization=self.organization,
            agent_app=agent_app,
            cursor=request.query_params.get("cursor"),
            limit=parse_limit(request.query_params.get("limit")),
        )
        positions = selectors.queue_positions(rows)
        return Response(
            {
                "deployments": [
                    deployment_body(d, queue_position=positions.get(d.id)) for d in rows
                ],
                "next_cursor": next_cursor,
            }
        )


class QueueStatsView(APIView):
    """Global queue counts, no authentication (docs/CONTRACT.md §5)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses={200: s.QueueStatsSerializer}, summary="Deployment queue statistics", auth=[]
    )
    def get(self, request):
        stats = selectors.queue_stats()
        avg = stats.avg_processing_seconds
        return Response(
            {
                "stats": stats.counts,
                "health": {"status": stats.health_status, "message": stats.health_message},
                "metrics": {
                    "avgProcessingTimeSeconds": round(avg, 1) if avg is not None else 0,
                    "failureRateLastHour": round(stats.failure_rate_last_hour, 3)
                    if stats.failure_rate_last_hour is not None
                    else None,
                    "stuck": stats.stuck,
                    "lastUpdated": iso(timezone.now()),
                },
            }
        )


class CronProcessDeploymentsView(MachineAPIView):
    """``x-cron-secret`` must equal CRON_SECRET; with CRON_SECRET unset every call is refused."""

    machine_scope = machine.CRON

    @extend_schema(
        request=None,
        parameters=[
            OpenApiParameter(
                "x-cron-secret", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True
            )
        ],
        responses={200: s.CronProcessedSerializer, **errors(401, 429)},
        summary="Process the next queued deployment (external schedulers)",
        auth=[],
    )
    def post(self, request):
        queue.deployments_recover_stuck()
        result = queue.deployment_process_next()
        if result is None:
            return Response({"processed": False, "message": "No jobs to process"})
        return Response(
            {
                "processed": True,
                "jobId": str(result.deployment.id),
                "status": result.deployment.status,
                "duration": round(result.duration_seconds, 3),
            }
        )


class _WebhookView(OrgScopedAPIView):
    # docs/CONTRACT.md §2/§3: webhooks are managed by admins, and by API keys (CI).
    api_key_role = Role.ADMIN
    required_roles = {
        "POST": Role.ADMIN,
        "DELETE": Role.ADMIN,
        "PATCH": Role.ADMIN,
        "PUT": Role.ADMIN,
    }

    def app(self, app_id):
        return selectors.agent_app_of_org(organization=self.organization, app_id=app_id)

    def webhook(self, app_id, webhook_id):
        return selectors.webhook_get(
            organization=self.organization, agent_app=self.app(app_id), webhook_id=webhook_id
        )


class WebhookListView(_WebhookView):
    @extend_schema(
        responses={200: s.WebhookListSerializer, **errors(401, 404, 429)},
        summary="An app's webhooks",
    )
    def get(self, request, app_id):
        webhooks = selectors.webhook_list_for_app(
            organization=self.organization, agent_app=self.app(app_id)
        )
        return Response({"webhooks": [webhook_body(w) for w in webhooks]})

    @extend_schema(
        request=s.WebhookInputSerializer,
        responses={201: s.WebhookEnvelopeSerializer, **errors(400, 401, 403, 404, 429)},
        summary="Create a webhook (its secret is shown once, here)",
    )
    def post(self, request, app_id):
        agent_app = self.app(app_id)
        data = _parse(s.WebhookInputSerializer, request)
        webhook, secret = services.webhook_create(
            organization=self.organization,
            agent_app=agent_app,
            url=data["url"],
            events=data["events"],
            secret=data.get("secret"),
            actor=self.actor,
        )
        return Response({"webhook": {**webhook_body(webhook), "secret": secret}}, status=201)


class WebhookDetailView(_WebhookView):
    @extend_schema(
        request=s.WebhookUpdateSerializer,
        responses={200: s.WebhookUpdatedSerializer, **errors(400, 401, 403, 404, 429)},
        summary="Change a webhook (active: true re-enables a disabled one)",
    )
    def patch(self, request, app_id, webhook_id):
        webhook = self.webhook(app_id, webhook_id)
        data = _parse(s.WebhookUpdateSerializer, request)
        webhook = services.webhook_update(webhook=webhook, **data)
        return Response({"webhook": webhook_body(webhook)})

    @extend_schema(
        responses={200: MessageSerializer, **errors(401, 403, 404, 429)}, summary="Delete a webhook"
    )
    def delete(self, request, app_id, webhook_id):
        services.webhook_delete(webhook=self.webhook(app_id, webhook_id))
        return Response({"message": "Webhook deleted successfully"})


class WebhookDeliveriesView(_WebhookView):
    @extend_schema(
        parameters=_PAGE_PARAMETERS,
        responses={200: s.DeliveryListSerializer, **errors(400, 401, 404, 429)},
        summary="A webhook's deliveries and their attempts",
    )
    def get(self, request, app_id, webhook_id):
        webhook = self.webhook(app_id, webhook_id)
        rows, next_cursor = selectors.delivery_list_for_webhook(
            organization=self.organization,
            webhook=webhook,
            cursor=request.query_params.get("cursor"),
            limit=parse_limit(request.query_params.get("limit")),
        )
        return Response(
            {"deliveries": [delivery_body(d) for d in rows], "next_cursor": next_cursor}
        )


class WebhookRedeliverView(_WebhookView):
    @extend_schema(
        request=None,
        responses={202: s.DeliveryEnvelopeSerializer, **errors(401, 403, 404, 429)},
        summary="Send a delivery's message again (same webhook-id)",
    )
    def post(self, request, app_id, webhook_id, delivery_id):
        webhook = self.webhook(app_id, webhook_id)
        original = selectors.delivery_get(
            organization=self.organization, webhook=webhook, delivery_id=delivery_id
        )
        again = delivery.webhook_delivery_redeliver(delivery=original)
        return Response({"delivery": delivery_body(_fresh(again))}, status=202)


class WebhookPingView(_WebhookView):
    @extend_schema(
        request=None,
        responses={202: s.DeliveryEnvelopeSerializer, **errors(401, 403, 404, 429)},
        summary="Send a ping event",
    )
    def post(self, request, app_id, webhook_id):
        webhook = self.webhook(app_id, webhook_id)
        ping = delivery.webhook_ping_create(webhook=webhook)
        return Response({"delivery": delivery_body(_fresh(ping))}, status=202)


def _fresh(item):
    # With eager Celery (tests, dev) the delivery may already have been attempted.
    return WebhookDelivery.all_orgs.prefetch_related("attempt_log").get(id=item.id)
