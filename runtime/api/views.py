"""Invoking an app's running agent and reading its runtime state (docs/CONTRACT.md §11). Thin views."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response

from agentapps.selectors import agent_app_get_readable
from pixell.api.responses import ResponseThen
from pixell.api.schema import ErrorEnvelopeSerializer, errors
from pixell.api.viewsets import OrgScopedAPIView
from runtime import selectors, services
from runtime.api import serializers as s

_NOT_RUNNING = OpenApiResponse(
    ErrorEnvelopeSerializer, description="No version of the app runs (NOT_RUNNING)"
)
_TIMEOUT = OpenApiResponse(
    ErrorEnvelopeSerializer,
    description="The agent answered later than PIXELL_INVOCATION_TIMEOUT_SECONDS (INVOCATION_TIMEOUT)",
)
_UNAVAILABLE = OpenApiResponse(
    ErrorEnvelopeSerializer,
    description="The agent runtime could not be reached (RUNTIME_UNAVAILABLE)",
)


class AppInvokeView(OrgScopedAPIView):
    # Roles as the app's other reads: any member or API key of the app's organization; a public
    # app can be invoked by anyone signed in, billed to the caller's organization.

    @extend_schema(
        operation_id="agent_apps_invoke",
        request=s.InvokeInputSerializer,
        responses={
            200: s.InvocationOutputSerializer,
            **errors(400, 401, 402, 404),
            409: _NOT_RUNNING,
            503: _UNAVAILABLE,
            504: _TIMEOUT,
        },
    )
    def post(self, request, app_id):
        app = agent_app_get_readable(organization=self.organization, app_id=app_id)
        serializer = s.InvokeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invocation = services.invocation_call(
            organization=self.organization, agent_app=app, **serializer.validated_data
        )
        # Metered once the answer is on its way (the ledger write is most of the request's time),
        # unless the balance is low: then before, and the answer says what was charged.
        meter_deferred = services.invocation_meter_deferred(invocation=invocation)
        data = s.InvocationOutputSerializer({"invocation": invocation.result}).data
        if meter_deferred is None:
            return Response(data)
        return ResponseThen(
            data,
            then=meter_deferred,
            label=f"metering invocation {invocation.result['id']} of app {app.pk}",
        )


class AppRuntimeView(OrgScopedAPIView):
    @extend_schema(
        operation_id="agent_apps_runtime",
        responses={200: s.AppRuntimeOutputSerializer, **errors(401, 404)},
    )
    def get(self, request, app_id):
        app = agent_app_get_readable(organization=self.organization, app_id=app_id)
        return Response({"runtime": selectors.app_runtime_get(agent_app=app)})
