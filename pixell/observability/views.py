"""GET /metrics: Prometheus text for a scraper holding PIXELL_METRICS_TOKEN.

Unset token, missing or wrong credentials all answer the same 404, so the endpoint cannot be
told apart from an unknown path by someone without the token (docs/DECISIONS.md).
"""

import hmac

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.http import require_GET

from pixell.api.exceptions import json_error
from pixell.observability import metrics


def _authorized(request) -> bool:
    token = settings.PIXELL_METRICS_TOKEN
    if not token:
        return False
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented:
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())


@require_GET
def metrics_view(request):
    if not _authorized(request):
        return json_error(404, "Not found", "NOT_FOUND")
    response = HttpResponse(metrics.render(), content_type=metrics.CONTENT_TYPE)
    response["Cache-Control"] = "no-store"
    return response
