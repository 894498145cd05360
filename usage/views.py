"""Dashboard page of usage (metrics, a server-rendered chart, activity, exports) and the download
link of a usage export on local storage (S3 exports use presigned URLs)."""

from datetime import timedelta

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from organizations.models import Role
from pixell.api.pagination import paginate
from pixell.api.viewsets import dashboard_render, dashboard_view, form_error, parse_form
from pixell.errors import PixellError, ValidationError
from usage import selectors, services
from usage.api.serializers import ExportInputSerializer
from usage.api.views import MAX_DAYS
from usage.selectors import usage_export_for_token

PERIODS = (7, 30, 90)
ACTIVITY_PAGE = 20


@never_cache
@require_GET
def export_download(request, token: str):
    # The signed token is the credential: it names one export and works until the export expires.
    export = usage_export_for_token(token=token)
    if export is None:
        raise Http404("This export link is invalid or has expired")
    content_type = "text/csv" if export.format == "csv" else "application/json"
    filename = f"usage-{export.start_date}-{export.end_date}.{export.format}"
    return FileResponse(
        default_storage.open(export.storage_key, "rb"),
        as_attachment=True,
        filename=filename,
        content_type=content_type,
    )


# --- dashboard --------------------------------------------------------------------------------------

CHART_WIDTH, CHART_PLOT_HEIGHT, CHART_LABEL_HEIGHT = 720, 140, 18
CHART_PADDING = 24  # room for the first and last date labels, centred under their bars
CHART_MAX_LABELS = 8


def bar_chart(points: list[dict], key: str) -> dict:
    """Geometry of an inline SVG bar chart of ``points[i][key]`` (usage_chart's days): computed
    here so the page needs no JavaScript or chart library. Negative days (refunds) draw as 0."""
    values = [max(int(point[key]), 0) for point in points]
    top = max(values, default=0)
    slot = CHART_WIDTH / max(len(points), 1)
    gap = min(2.0, slot / 4)
    every = max(1, -(-len(points) // CHART_MAX_LABELS))  # ceil: at most CHART_MAX_LABELS labels
    bars = []
    for index, (point, value) in enumerate(zip(points, values, strict=True)):
        height = round(value / top * CHART_PLOT_HEIGHT, 1) if top else 0
        bars.append(
            {
                "x": round(index * slot + gap / 2, 1),
                "y": round(CHART_PLOT_HEIGHT - height, 1),
                "width": round(slot - gap, 1),
                "height": height,
                "value": value,
                "date": point["date"],
                # Counted from the end: today is always labelled, and labels are evenly spaced.
                "label": point["date"] if (len(points) - 1 - index) % every == 0 else "",
                "label_x": round(index * slot + slot / 2, 1),
            }
        )
    return {
        "bars": bars,
        "max": top,
        "total": sum(values),
        "width": CHART_WIDTH,
        "view_box": f"{-CHART_PADDING} 0 {CHART_WIDTH + 2 * CHART_PADDING} {CHART_PLOT_HEIGHT + CHART_LABEL_HEIGHT}",
        "plot_height": CHART_PLOT_HEIGHT,
        "height": CHART_PLOT_HEIGHT + CHART_LABEL_HEIGHT,
        "label_y": CHART_PLOT_HEIGHT + CHART_LABEL_HEIGHT - 4,
    }


def _days(request) -> int:
    raw = request.GET.get("days") or "30"
    try:
        days = int(raw)
    except ValueError:
        days = 0
    if not 1 <= days <= MAX_DAYS:
        raise ValidationError(
            f"days must be between 1 and {MAX_DAYS}",
            details={"days": [f"Must be between 1 and {MAX_DAYS}."]},
        )
    return days


@dashboard_view
def usage_page(request, tenancy):
    organization = tenancy.organization
    days = _days(request)
    extra, status = {}, 200
    if request.method == "POST":
        tenancy.require(Role.ADMIN)  # exports need admin (docs/CONTRACT.md §3)
        try:
            data = parse_form(
                ExportInputSerializer,
                {
                    "format": request.POST.get("format", ""),
                    "startDate": request.POST.get("startDate", ""),
                    "endDate": request.POST.get("endDate", ""),
                },
            )
            export = services.usage_export_create(
                organization=organization,
                actor=tenancy.user,
                format=data["format"],
                start_date=data["startDate"],
                end_date=data["endDate"],
            )
        except PixellError as exc:
            extra["form_errors"], status = {"export": form_error(exc)}, exc.status_code
        else:
            extra["export"] = export
            extra["export_url"] = selectors.usage_export_download_url(export=export)
    chart = selectors.usage_chart(organization=organization, days=days)
    activity, next_cursor = paginate(
        selectors.usage_activity_queryset(organization=organization),
        cursor=request.GET.get("cursor"),
        limit=ACTIVITY_PAGE,
        time_field="occurred_at",
    )
    today = services.utc_day(timezone.now())
    context = {
        "days": days,
        "periods": PERIODS,
        "metrics": selectors.usage_metrics(organization=organization, days=days),
        "credits_chart": bar_chart(chart, "credits"),
        "invocations_chart": bar_chart(chart, "invocations"),
        "activity": activity,
        "next_cursor": next_cursor,
        "first_page": not request.GET.get("cursor"),
        "export_defaults": {
            "startDate": (today - timedelta(days=days - 1)).isoformat(),
            "endDate": today.isoformat(),
        },
        "form": request.POST if request.method == "POST" else {},
        "form_errors": {},
        **extra,
    }
    return dashboard_render(request, "usage/usage.html", context, status=status)
