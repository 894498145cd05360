"""OpenAPI description of the API plumbing: how callers authenticate, and the one error envelope.

Imported by the API views that use ``errors``, so drf-spectacular sees the authentication
extension before it generates anything.
"""

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from pixell.api import ratelimit  # the middleware's own exemption list, so the two cannot drift


class PixellAuthenticationScheme(OpenApiAuthenticationExtension):
    """``PixellAuthentication`` accepts either of two credentials (docs/CONTRACT.md §2); the schema lists
    them as alternatives so /api/docs/ offers an Authorize button for each."""

    target_class = "pixell.api.authentication.PixellAuthentication"
    name = ["bearerAuth", "cookieAuth"]

    def get_security_requirement(self, auto_schema):
        return [{"bearerAuth": []}, {"cookieAuth": []}]

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "http",
                "scheme": "bearer",
                "description": "An access token from POST /api/auth/login, or an API key (pac_…).",
            },
            {
                "type": "apiKey",
                "in": "cookie",
                "name": settings.AUTH_COOKIE_NAME,
                "description": "The httpOnly cookie set by POST /api/auth/login.",
            },
        ]


class ErrorEnvelopeSerializer(serializers.Serializer):
    """The shape of every 4xx/5xx answer under /api (docs/CONTRACT.md §9)."""

    error = serializers.CharField()
    code = serializers.CharField()
    details = serializers.JSONField(required=False, allow_null=True)


_DESCRIPTIONS = {
    400: "Invalid input (VALIDATION_ERROR, field errors in details)",
    401: "Missing or invalid credentials (AUTHENTICATION_FAILED)",
    402: "Not enough credits (INSUFFICIENT_CREDITS)",
    403: "Role too low or action not allowed (PERMISSION_DENIED)",
    404: "Not found, or another organization's object (NOT_FOUND)",
    409: "Conflicts with the current state (CONFLICT / VERSION_EXISTS)",
    415: "Body in a media type the operation does not parse (VALIDATION_ERROR)",
    429: "Rate limited (RATE_LIMITED)",
    503: "A stored secret cannot be decrypted with PIXELL_SECRETS_KEY (SECRETS_KEY_MISMATCH)",
}


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    """``@extend_schema(responses={200: Out, **errors(400, 404)})`` documents error answers
    with the real envelope instead of leaving them out."""
    return {
        status: OpenApiResponse(
            response=ErrorEnvelopeSerializer, description=_DESCRIPTIONS.get(status, "Error")
        )
        for status in statuses
    }


class MessageSerializer(serializers.Serializer):
    """``{"message": …}``, docs/API.md's answer to deletes and other actions. Shared, so the schema has
    one ``Message`` component (drf-spectacular refuses two classes with the same name)."""

    message = serializers.CharField()


def document_rate_limit(result, generator, request, public):
    """drf-spectacular postprocessing hook: ApiMiddleware can answer 429 on every /api operation it
    does not exempt, before any view runs, so each such operation documents it (found by fuzzing:
    most operations left it out, and clients generated from the schema did not expect it)."""
    rate_limited = {
        "description": _DESCRIPTIONS[429],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}},
    }
    for path, operations in result.get("paths", {}).items():
        if ratelimit.is_exempt(path):
            continue
        for operation in operations.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"].setdefault("429", rate_limited)
    return result


def document_unsupported_media_type(result, generator, request, public):
    """drf-spectacular postprocessing hook: DRF answers 415 to a body whose Content-Type (or lack of
    one) no parser of the view accepts, on every operation that takes a body (found by fuzzing)."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and "requestBody" in operation:
                operation["responses"].setdefault(
                    "415",
                    {
                        "description": _DESCRIPTIONS[415],
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ErrorEnvelope"}
                            }
                        },
                    },
                )
    return result
