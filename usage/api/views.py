"""Usage API: metrics, chart, activity and exports (docs/API.md §7, docs/CONTRACT.md §8)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from organizations.models import Role
from pixell.api.pagination import paginate, parse_limit
from pixell.api.schema import errors
from pixell.api.viewsets import OrgScopedAPIView
from pixell.errors import ValidationError
from usage import selectors, services
from usage.api import serializers as s

MAX_DAYS = 365


def _days_param(request, *, default: int = 30) -> int:
    raw = request.query_params.get("days")
    if raw in (None, ""):
        return default
    try:
        days = int(raw)
    except ValueError as exc:
        raise ValidationError(
            "days must be an integer", details={"days": ["A valid integer is required."]}
        ) from exc
    if not 1 <= days <= MAX_DAYS:
        raise ValidationError(
            f"days must be between 1 and {MAX_DAYS}",
            details={"days": [f"Must be between 1 and {MAX_DAYS}."]},
        )
    return days


_DAYS = OpenApiParameter(
    "days",
    {"type": "integer", "minimum": 1, "maximum": MAX_DAYS},
    description=f"UTC days, today included: 1–{MAX_DAYS}, default 30",
)


class UsageMetricsView(OrgScopedAPIView):
    @extend_schema(
        parameters=[_DAYS], responses={200: s.MetricsOutputSerializer, **errors(400, 401, 404)}
    )
    def get(self, request):
        return Response(
            selectors.usage_metrics(organization=self.organization, days=_days_param(request))
        )


class UsageChartView(OrgScopedAPIView):
    @extend_schema(
        parameters=[_DAYS], responses={200: s.ChartOutputSerializer, **errors(400, 401, 404)}
    )
    def get(self, request):
        return Response(
            {
                "data": selectors.usage_chart(
                    organization=self.organization, days=_days_param(request)
                )
            }
        )


class UsageActivityView(OrgScopedAPIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": 100},
                description="1–100, default 20",
            ),
            OpenApiParameter("cursor", str, description="next_cursor of the previous page"),
        ],
        responses={200: s.ActivityOutputSerializer, **errors(400, 401, 404)},
    )
    def get(self, request):
        rows, next_cursor = paginate(
            selectors.usage_activity_queryset(organization=self.organization),
            cursor=request.query_params.get("cursor"),
            limit=parse_limit(request.query_params.get("limit"), default=20),
            time_field="occurred_at",
        )
        return Response(
            s.ActivityOutputSerializer({"events": rows, "next_cursor": next_cursor}).data
        )


class UsageExportView(OrgScopedAPIView):
    required_roles = {"POST": Role.ADMIN}

    @extend_schema(
        request=s.ExportInputSerializer,
        responses={200: s.ExportOutputSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request):
        serializer = s.ExportInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        export = services.usage_export_create(
            organization=self.organization,
            actor=self.actor,
            format=data["format"],
            start_date=data["startDate"],
            end_date=data["endDate"],
        )
        return Response(
            s.ExportOutputSerializer(
                {
                    "downloadUrl": selectors.usage_export_download_url(export=export),
                    "expiresAt": export.expires_at,
                }
            ).data
        )
