"""The download link of a usage export on local storage (S3 exports use presigned URLs)."""

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from usage.selectors import usage_export_for_token


@never_cache
@require_GET
def export_download(request, token: str):
    # The signed token is the credential: it names one export and works until the export expires.
    export = usage_export_for_token(token=token)
    if export is None:
        raise Http404("This export link is invalid or has expired")
    content_type = "text/csv" if export.format == "csv" else "application/json"
    filename = f"usage-{export.start_date}-{export.end_date}.{export.format}"
    return FileResponse(default_storage.open(export.storage_key, "rb"), as_attachment=True, filename=filename, content_type=content_type)
