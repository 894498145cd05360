"""A URLconf for the envelope tests: the real one plus views that fail like bugs do."""

from django.urls import include, path
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

import pixell.urls


class BoomAPIView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request):
        raise RuntimeError("secret internals /etc/passwd")


def boom_django_view(request):
    raise RuntimeError("secret internals /etc/passwd")


urlpatterns = [
    path("api/test-boom-drf", BoomAPIView.as_view()),
    path("api/test-boom-django", boom_django_view),
    path("", include(pixell.urls.urlpatterns)),
]

handler400 = pixell.urls.handler400
handler403 = pixell.urls.handler403
handler404 = pixell.urls.handler404
handler500 = pixell.urls.handler500
