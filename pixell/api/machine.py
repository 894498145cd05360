"""Endpoints for machines that hold a shared secret: the agent runtime (``PIXELL_RUNTIME_SECRET``,
``Authorization: Bearer``) and external schedulers (``CRON_SECRET``, ``x-cron-secret``).

They stay out of the per-user/per-address limit of the other /api routes (a runtime reporting for
every organization is one caller) but have their own (docs/DECISIONS.md "Machine endpoints: a limit
and a wrong-secret throttle"):

- a rate limit per endpoint kind, counted only for callers that presented the right secret, so
  strangers cannot use up the runtime's allowance; 429 with ``Retry-After``, X-RateLimit-* headers on
  every answer, as the other /api routes (docs/CONTRACT.md §9);
- wrong secrets counted per client address (``pixell.api.client.client_address``, so behind trusted
  proxies per real client): past ``PIXELL_MACHINE_SECRET_FAILURES`` a wrong secret from that
  address is a 429 until the window ends. The right secret still passes: it has at least 32
  characters (``pixell.env.get_secret``), so guessing is hopeless anyway, and a stranger sharing
  the runtime's address (a NAT, an unconfigured proxy) must not be able to stop its reports.

Each check is one cache round trip (``pixell.api.ratelimit.hit``); the comparison is
``hmac.compare_digest``. Losing the counters (cache eviction) only lifts a throttle, never grants
access: the secret is still checked.
"""

import hmac
from dataclasses import dataclass

from django.conf import settings
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from pixell.api import ratelimit
from pixell.api.client import client_address
from pixell.errors import AuthenticationFailed, RateLimited


@dataclass(frozen=True)
class MachineScope:
    name: str
    secret_setting: str  # the settings name of the shared secret
    rate_setting: str  # the settings name of the scope's rate ("N/s|m|h|d")
    header: str  # where the caller presents the secret
    failure_message: str

    def presented(self, request) -> str | None:
        value = request.headers.get(self.header)
        if value is None or self.header != "Authorization":
            return value
        scheme, _, token = value.partition(" ")
        return token.strip() if scheme.lower() == "bearer" else None


RUNTIME = MachineScope(
    name="runtime",
    secret_setting="PIXELL_RUNTIME_SECRET",
    rate_setting="PIXELL_RATE_LIMIT_RUNTIME",
    header="Authorization",
    failure_message="Invalid runtime credentials",
)
CRON = MachineScope(
    name="cron",
    secret_setting="CRON_SECRET",
    rate_setting="PIXELL_RATE_LIMIT_CRON",
    header="x-cron-secret",
    failure_message="Invalid or missing cron secret",
)


def machine_authenticate(request, *, scope: MachineScope) -> dict[str, str]:
    """Checks the caller's secret and its limits; returns the X-RateLimit-* headers to answer with.

    Raises ``AuthenticationFailed`` (wrong or missing secret, or none configured: nobody is that
    machine) or ``RateLimited`` (the endpoint's limit, or the address's wrong-secret throttle)."""
    expected = getattr(settings, scope.secret_setting) or ""
    presented = scope.presented(request)
    # compare_digest even when the lengths differ: no timing oracle on the secret.
    valid = (
        bool(expected)
        and presented is not None
        and hmac.compare_digest(presented.encode(), expected.encode())
    )
    if not valid:
        failures = ratelimit.hit(
            request,
            None,
            bucket=(
                f"machine-fail:{client_address(request)}",
                settings.PIXELL_MACHINE_SECRET_FAILURES,
            ),
        )
        if failures["limited"]:
            raise RateLimited(
                "Too many requests with a wrong secret; retry later",
                headers={"Retry-After": str(failures["retry_after"])},
            )
        raise AuthenticationFailed(scope.failure_message)
    result = ratelimit.hit(
        request, None, bucket=(f"machine:{scope.name}", getattr(settings, scope.rate_setting))
    )
    if result["limited"]:
        raise RateLimited(
            "Rate limit exceeded; retry later",
            headers={**result["headers"], "Retry-After": str(result["retry_after"])},
        )
    return result["headers"]


class MachineAPIView(APIView):
    """Base of the endpoints a machine calls with a shared secret: no user authentication, the
    secret and both limits checked once, before the handler runs (``machine_scope``)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    machine_scope: MachineScope

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.rate_limit_headers = machine_authenticate(request, scope=self.machine_scope)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        for name, value in getattr(self, "rate_limit_headers", {}).items():
            response.setdefault(name, value)
        return response
