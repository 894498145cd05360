from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from pixell.observability.views import metrics_view

api_patterns = [
    path("", include("accounts.api.urls")),
    path("", include("organizations.api.urls")),
    path("", include("agentapps.api.urls")),
    path("", include("deployments.api.urls")),
    path("", include("billing.api.urls")),
    path("", include("usage.api.urls")),
    path("", include("runtime.api.urls")),
    path("", include("pixell.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a request of its own (`?script`), so
    # the page needs no inline script under the Content-Security-Policy.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
]

urlpatterns = [
    path("api/", include(api_patterns)),
    path("admin/", admin.site.urls),
    path("metrics", metrics_view, name="metrics"),
    path("", include("accounts.urls")),
    path("", include("organizations.urls")),
    path("", include("dashboard.urls")),
    path("", include("deployments.urls")),
    path("", include("billing.urls")),
    path("", include("usage.urls")),
    path("", include("runtime.urls")),
]

handler400 = "pixell.api.exceptions.handler400"
handler403 = "pixell.api.exceptions.handler403"
handler404 = "pixell.api.exceptions.handler404"
handler500 = "pixell.api.exceptions.handler500"
