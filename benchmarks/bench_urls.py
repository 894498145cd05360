"""The product's URLconf plus ``/bench/bare``: the baseline DRF view benchmarks compare against.

``/bench/bare`` is a DRF APIView with no authentication, no permission and no tenancy, outside
``/api`` so the API middleware (identification, rate limit) does not run for it either: what is
left is Django + DRF themselves on the same server, settings and middleware stack.
"""

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from pixell import urls as product_urls


class BareView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"ok": True})


urlpatterns = [path("bench/bare", BareView.as_view()), *product_urls.urlpatterns]

handler400 = product_urls.handler400
handler403 = product_urls.handler403
handler404 = product_urls.handler404
handler500 = product_urls.handler500
