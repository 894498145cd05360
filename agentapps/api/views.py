"""Agent apps, packages, signing keys and app secrets (docs/API.md §4–5, docs/CONTRACT.md §4). Thin: parse, call
one service or selector, render docs/API.md's shape."""

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from agentapps import selectors, services, storage
from agentapps.api import serializers as s
from agentapps.errors import DownloadLinkInvalid
from agentapps.uploads import install_package_upload_handlers
from organizations.models import Role
from pixell.api.pagination import paginate, parse_limit
from pixell.api.schema import MessageSerializer, errors
from pixell.api.viewsets import OrgScopedAPIView
from pixell.errors import NotFound

_ADMIN_WRITES = {"POST": Role.ADMIN, "PUT": Role.ADMIN, "PATCH": Role.ADMIN, "DELETE": Role.ADMIN}


def _parse(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- apps -------------------------------------------------------------------------------------------


class AgentAppListView(OrgScopedAPIView):
    @extend_schema(
        operation_id="agent_apps_list",
        responses={200: s.AppListOutputSerializer, **errors(401, 404)},
    )
    def get(self, request):
        apps = selectors.agent_app_list(organization=self.organization)
        return Response(s.AppListOutputSerializer({"apps": apps}).data)

    @extend_schema(
        request=s.AppCreateInputSerializer,
        responses={201: s.AppCreatedOutputSerializer, **errors(400, 401, 409)},
    )
    def post(self, request):
        data = _parse(s.AppCreateInputSerializer, request)
        app = services.agent_app_create(organization=self.organization, actor=self.actor, **data)
        return Response(s.AppCreatedOutputSerializer({"app": app}).data, status=201)


class AgentAppDetailView(OrgScopedAPIView):
    # docs/CONTRACT.md §3: deleting apps needs admin; members create and update them.
    required_roles = {"DELETE": Role.ADMIN}

    @extend_schema(
        operation_id="agent_apps_retrieve",
        responses={200: s.AppOutputSerializer, **errors(401, 404)},
    )
    def get(self, request, app_id):
        app = selectors.agent_app_get_readable(organization=self.organization, app_id=app_id)
        app.live_packages = list(selectors.agent_app_packages(agent_app=app))
        return Response(s.AppOutputSerializer({"app": app}, context={"request": request}).data)

    @extend_schema(
        request=s.AppUpdateInputSerializer,
        responses={200: s.AppUpdatedOutputSerializer, **errors(400, 401, 403, 404, 409)},
    )
    def patch(self, request, app_id):
        app = selectors.agent_app_get(organization=self.organization, app_id=app_id)
        data = _parse(s.AppUpdateInputSerializer, request)
        app = services.agent_app_update(agent_app=app, actor=self.actor, **data)
        return Response(s.AppUpdatedOutputSerializer({"app": app}).data)

    @extend_schema(responses={200: MessageSerializer, **errors(401, 403, 404)})
    def delete(self, request, app_id):
        app = selectors.agent_app_get(organization=self.organization, app_id=app_id)
        services.agent_app_delete(agent_app=app, actor=self.actor)
        return Response({"message": "Agent app deleted successfully"})


# --- packages ---------------------------------------------------------------------------------------


class PackageListView(OrgScopedAPIView):
    def initialize_request(self, request, *args, **kwargs):
        # Before DRF parses the body: an oversized package must never reach the disk in full.
        install_package_upload_handlers(request)
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(
        operation_id="agent_apps_packages_list",
        parameters=[
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": 100},
                description="1–100, default 50",
            ),
            OpenApiParameter("cursor", str, description="next_cursor of the previous page"),
        ],
        responses={200: s.PackageListOutputSerializer, **errors(400, 401, 404)},
    )
    def get(self, request, app_id):
        app = selectors.agent_app_get_readable(organization=self.organization, app_id=app_id)
        limit = parse_limit(request.query_params.get("limit"))
        rows, next_cursor = paginate(
            selectors.agent_app_packages(agent_app=app),
            cursor=request.query_params.get("cursor"),
            limit=limit,
        )
        return Response(
            s.PackageListOutputSerializer(
                {"packages": rows, "next_cursor": next_cursor}, context={"request": request}
            ).data
        )

    @extend_schema(
        request={"multipart/form-data": s.PackageFormSerializer},
        responses={
            201: s.PackageUploadOutputSerializer,
            400: OpenApiResponse(
                response=errors(400)[400].response,
                description="VALIDATION_ERROR (missing/empty file, wrong field type) or PACKAGE_VALIDATION_FAILED "
                "(every reason in details, a list of strings)",
            ),
            **errors(401, 403, 404, 409),
        },
    )
    def post(self, request, app_id):
        app = selectors.agent_app_get(organization=self.organization, app_id=app_id)
        form = s.parse_package_form(request)
        package = services.package_upload(
            organization=self.organization,
            agent_app=app,
            actor=self.actor,
            upload=form["upload"],
            form_version=form["version"],
            signature=form["signature"],
            release_notes=form["release_notes"],
            force_overwrite=form["force_overwrite"],
        )
        return Response(
            s.PackageUploadOutputSerializer(
                {"package": package}, context={"request": request}
            ).data,
            status=201,
        )


class PackageDetailView(OrgScopedAPIView):
    required_roles = {"DELETE": Role.ADMIN}

    @extend_schema(responses={200: MessageSerializer, **errors(401, 403, 404, 409)})
    def delete(self, request, app_id, package_id):
        app = selectors.agent_app_get(organization=self.organization, app_id=app_id)
        package = selectors.package_get(agent_app=app, package_id=package_id)
        services.package_delete(package=package, actor=self.actor)
        return Response({"message": "Package deleted successfully"})


class PackageDownloadView(APIView):
    """The ``s3_url`` of a package on local storage: the signed link is the credential (like a
    presigned S3 URL), so no authentication is read."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="packages_download",
        parameters=[
            OpenApiParameter(
                "expires", int, required=True, description="Unix time the link expires"
            ),
            OpenApiParameter(
                "sig", str, required=True, description="HMAC of the package id and expiry"
            ),
        ],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                response=OpenApiTypes.BINARY, description="The .apkg"
            ),
            **errors(403, 404),
        },
    )
    def get(self, request, package_id):
        # The signature first, so the link answers nothing about packages to those without one.
        if not storage.download_signature_valid(
            package_id, request.query_params.get("expires"), request.query_params.get("sig")
        ):
            raise DownloadLinkInvalid()
        package = selectors.package_get_for_download(package_id=package_id)
        if package is None:
            raise NotFound("Package not found")
        try:
            fileobj = services.package_file_open(package=package)
        except FileNotFoundError as exc:
            raise NotFound("Package file not found") from exc
        return FileResponse(
            fileobj,
            as_attachment=True,
            filename=storage.package_filename(package),
            content_type="application/octet-stream",
        )


# --- signing keys -----------------------------------------------------------------------------------


class SigningKeyListView(OrgScopedAPIView):
    required_roles = {"POST": Role.ADMIN}

    @extend_schema(
        operation_id="signing_keys_list",
        responses={200: s.SigningKeyListOutputSerializer, **errors(401)},
    )
    def get(self, request):
        keys = selectors.signing_key_list(organization=self.organization)
        return Response(s.SigningKeyListOutputSerializer({"signing_keys": keys}).data)

    @extend_schema(
        request=s.SigningKeyInputSerializer,
        responses={201: s.SigningKeyOutputSerializer, **errors(400, 401, 403, 409)},
    )
    def post(self, request):
        data = _parse(s.SigningKeyInputSerializer, request)
        key = services.signing_key_create(organization=self.organization, actor=self.actor, **data)
        return Response(s.SigningKeyOutputSerializer({"signing_key": key}).data, status=201)


class SigningKeyDetailView(OrgScopedAPIView):
    required_roles = {"DELETE": Role.ADMIN}

    @extend_schema(responses={200: MessageSerializer, **errors(401, 403, 404)})
    def delete(self, request, key_id):
        key = selectors.signing_key_get(organization=self.organization, key_id=key_id)
        services.signing_key_delete(signing_key=key, actor=self.actor)
        return Response({"message": "Signing key deleted successfully"})


# --- app secrets ------------------------------------------------------------------------------------


class _SecretsBase(OrgScopedAPIView):
    # docs/CONTRACT.md §2/§4: admins and API keys (the Kit authenticates `pixell secrets` with one).
    api_key_role = Role.ADMIN
    required_roles = {"GET": Role.ADMIN, **_ADMIN_WRITES}


class AppSecretsView(_SecretsBase):
    @extend_schema(
        operation_id="agent_apps_secrets_list",
        responses={200: s.SecretsOutputSerializer, **errors(401, 403, 404, 503)},
    )
    def get(self, request, app_id):
        app = selectors.agent_app_get(organization=self.organization, app_id=app_id)
        return Response({"secrets": selectors.app_secrets_get(agent_app=app)})

    @extend_schema(
        request=s.SecretsInputSerializer,
        responses={200: s.SecretsSetOutputSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request, app_id):
        app = selectors.agent_app_get(organization=self.organization, app_id=app_id)
        data = _parse(s.SecretsInputSerializer, request)
        count = services.app_secrets_replace(agent_app=app, secrets=data["secrets"])
        return Response({"success": True, "secretCount": count})

    @extend_schema(responses={200: s.SuccessSerializer, **errors(401, 403, 404)})
    def delete(self, request, app_id):
        app = selectors.agent_app_get(organization=self.organization, app_id=app_id)
        services.app_secrets_delete_all(agent_app=app)
        return Response({"success": True})


class AppSecretDetailView(_SecretsBase):
    @extend_schema(
        request=s.SecretValueInputSerializer,
        responses={200: s.SecretKeyOutputSerializer, **errors(400, 401, 403, 404)},
    )
    def put(self, request, app_id, key):
        app = selectors.agent_app_get(organization=self.organization, app_id=app_id)
        data = _parse(s.SecretValueInputSerializer, request)
        services.app_secret_set(agent_app=app, key=key, value=data["value"])
        return Response({"success": True, "key": key})

    @extend_schema(
        operation_id="agent_apps_secret_destroy",
        responses={200: s.SecretKeyOutputSerializer, **errors(401, 403, 404)},
    )
    def delete(self, request, app_id, key):
        app = selectors.agent_app_get(organization=self.organization, app_id=app_id)
        services.app_secret_delete(agent_app=app, key=key)
        return Response({"success": True, "key": key})
