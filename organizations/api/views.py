"""Organizations, members, invitations and API keys (docs/API.md §2–3, docs/CONTRACT.md §2–3).

Role policy is declared (``required_roles``, ``allow_api_keys``) and enforced by the base view;
the finer rules (who may remove or demote whom) are in the services.
"""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from organizations import selectors, services
from organizations.api import serializers as s
from organizations.models import Role
from pixell.api.schema import errors
from pixell.api.tenancy import resolve_tenancy
from pixell.api.viewsets import AuthenticatedAPIView, OrgScopedAPIView
from pixell.errors import NotFound


def _parse(serializer_class, request):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class OrganizationCurrentView(OrgScopedAPIView):
    required_roles = {"PATCH": Role.ADMIN, "DELETE": Role.OWNER}

    @extend_schema(responses={200: s.OrganizationCurrentOutputSerializer, **errors(400, 401, 404)})
    def get(self, request):
        return Response(s.organization_current_payload(self.organization, self.role))

    @extend_schema(
        request=s.OrganizationUpdateInputSerializer,
        responses={200: s.OrganizationUpdateOutputSerializer, **errors(400, 401, 403, 404)},
    )
    def patch(self, request):
        data = _parse(s.OrganizationUpdateInputSerializer, request)
        organization = services.organization_update(
            organization=self.organization, actor=self.actor, **data
        )
        return Response(s.OrganizationUpdateOutputSerializer({"organization": organization}).data)

    @extend_schema(responses={200: s.MessageSerializer, **errors(401, 403, 404)})
    def delete(self, request):
        services.organization_delete(organization=self.organization, actor=self.actor)
        # Nothing may be recorded for it after this response (the API-call counter would
        # otherwise register a row for an organization that no longer exists).
        request._request.pixell_organization = None
        return Response({"message": "Organization deleted successfully"})


class OrganizationListView(AuthenticatedAPIView):
    allow_api_keys = False

    @extend_schema(responses={200: s.OrganizationListOutputSerializer, **errors(401, 403)})
    def get(self, request):
        memberships = list(selectors.organization_memberships_of_user(user=self.actor))
        try:
            current_id = resolve_tenancy(request._request, self.identity).organization.pk
        except NotFound:
            current_id = None
        data = s.OrganizationListOutputSerializer(
            {"organizations": memberships}, context={"current_id": current_id}
        ).data
        return Response(data)


class OrganizationSwitchView(AuthenticatedAPIView):
    allow_api_keys = False

    @extend_schema(
        request=s.OrganizationSwitchInputSerializer,
        responses={200: s.OrganizationCurrentOutputSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request):
        data = _parse(s.OrganizationSwitchInputSerializer, request)
        membership = services.organization_switch(
            user=self.actor, organization_id=data["organization_id"]
        )
        return Response(
            s.OrganizationCurrentOutputSerializer(
                {"organization": membership.organization, "role": membership.role}
            ).data
        )


class MemberListView(OrgScopedAPIView):
    allow_api_keys = False
    required_roles = {"POST": Role.ADMIN}

    @extend_schema(responses={200: s.MemberListOutputSerializer, **errors(401, 403, 404)})
    def get(self, request):
        return Response(
            s.MemberListOutputSerializer(
                {"members": selectors.membership_list(organization=self.organization)}
            ).data
        )

    @extend_schema(
        request=s.InvitationCreateInputSerializer,
        responses={201: s.InvitationOutputSerializer, **errors(400, 401, 403, 404, 409)},
        description="Invites someone: creates an invitation (7 days) and emails them a link holding its token.",
    )
    def post(self, request):
        data = _parse(s.InvitationCreateInputSerializer, request)
        invitation, _ = services.invitation_create(
            organization=self.organization,
            actor=self.actor,
            actor_role=self.role,
            email=data["email"],
            role=data["role"],
        )
        return Response(s.InvitationOutputSerializer({"invitation": invitation}).data, status=201)


class MemberDetailView(OrgScopedAPIView):
    allow_api_keys = False
    # DELETE stays at member level: a member may remove themselves (leave); removing someone else
    # is checked by member_remove.
    required_roles = {"PATCH": Role.ADMIN, "DELETE": Role.MEMBER}

    @extend_schema(
        request=s.MemberUpdateInputSerializer,
        responses={200: s.MemberOutputSerializer, **errors(400, 401, 403, 404)},
    )
    def patch(self, request, user_id: str):
        membership = selectors.membership_get(organization=self.organization, user_id=user_id)
        data = _parse(s.MemberUpdateInputSerializer, request)
        membership = services.member_role_change(
            organization=self.organization,
            actor=self.actor,
            actor_role=self.role,
            membership=membership,
            role=data["role"],
        )
        return Response(s.MemberOutputSerializer({"member": membership}).data)

    @extend_schema(responses={200: s.MessageSerializer, **errors(401, 403, 404)})
    def delete(self, request, user_id: str):
        membership = selectors.membership_get(organization=self.organization, user_id=user_id)
        services.member_remove(
            organization=self.organization,
            actor=self.actor,
            actor_role=self.role,
            membership=membership,
        )
        return Response({"message": "Member removed successfully"})


class InvitationListView(OrgScopedAPIView):
    allow_api_keys = False

    @extend_schema(responses={200: s.InvitationListOutputSerializer, **errors(401, 403, 404)})
    def get(self, request):
        invitations = selectors.invitation_list_pending(organization=self.organization)
        return Response(s.InvitationListOutputSerializer({"invitations": invitations}).data)


class InvitationDetailView(OrgScopedAPIView):
    allow_api_keys = False
    required_roles = {"DELETE": Role.ADMIN}

    @extend_schema(responses={200: s.MessageSerializer, **errors(401, 403, 404, 409)})
    def delete(self, request, invitation_id: str):
        invitation = selectors.invitation_get(
            organization=self.organization, invitation_id=invitation_id
        )
        services.invitation_revoke(invitation=invitation, actor=self.actor)
        return Response({"message": "Invitation revoked successfully"})


class InvitationAcceptView(AuthenticatedAPIView):
    allow_api_keys = False

    @extend_schema(
        request=s.InvitationAcceptInputSerializer,
        responses={200: s.OrganizationCurrentOutputSerializer, **errors(400, 401, 403, 409)},
    )
    def post(self, request):
        data = _parse(s.InvitationAcceptInputSerializer, request)
        membership = services.invitation_accept(token=data["token"], user=self.actor)
        return Response(
            s.OrganizationCurrentOutputSerializer(
                {"organization": membership.organization, "role": membership.role}
            ).data
        )


class ApiKeyListView(OrgScopedAPIView):
    allow_api_keys = False
    required_roles = {"GET": Role.ADMIN, "POST": Role.ADMIN}

    @extend_schema(responses={200: s.ApiKeyListOutputSerializer, **errors(401, 403, 404)})
    def get(self, request):
        return Response(
            s.ApiKeyListOutputSerializer(
                {"apiKeys": selectors.api_key_list(organization=self.organization)}
            ).data
        )

    @extend_schema(
        request=s.ApiKeyCreateInputSerializer,
        responses={201: s.ApiKeyCreateOutputSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request):
        data = _parse(s.ApiKeyCreateInputSerializer, request)
        key, raw = services.api_key_create(
            organization=self.organization, name=data["name"], actor=self.actor
        )
        key.key = raw
        return Response(s.ApiKeyCreateOutputSerializer({"apiKey": key}).data, status=201)


class ApiKeyDetailView(OrgScopedAPIView):
    allow_api_keys = False
    required_roles = {"DELETE": Role.ADMIN}

    @extend_schema(responses={200: s.MessageSerializer, **errors(401, 403, 404)})
    def delete(self, request, key_id: str):
        key = selectors.api_key_get(organization=self.organization, key_id=key_id)
        services.api_key_delete(api_key=key, actor=self.actor)
        return Response({"message": "API key deleted successfully"})


class ApiKeyRotateView(OrgScopedAPIView):
    allow_api_keys = False
    required_roles = {"POST": Role.ADMIN}

    @extend_schema(
        request=None, responses={200: s.ApiKeyRotateOutputSerializer, **errors(401, 403, 404)}
    )
    def post(self, request, key_id: str):
        key = selectors.api_key_get(organization=self.organization, key_id=key_id)
        key, raw = services.api_key_rotate(api_key=key, actor=self.actor)
        key.key = raw
        return Response(s.ApiKeyRotateOutputSerializer({"apiKey": key}).data)
