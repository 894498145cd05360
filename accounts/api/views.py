"""Authentication API (docs/API.md §1, docs/CONTRACT.md §2). Thin: parse, call one service, render the seed shape."""

from django.conf import settings
from django.contrib.auth import logout as django_logout
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.api import serializers as s
from pixell.api.authentication import identify, refuse_foreign_origin
from pixell.api.client import client_address
from pixell.api.schema import errors
from pixell.api.tenancy import resolve_tenancy
from pixell.api.viewsets import AuthenticatedAPIView
from pixell.errors import AuthenticationFailed, NotFound

REFRESH_COOKIE_NAME = "pixell-refresh-token"
# The refresh cookie is sent only to the endpoints that use it, never with ordinary API calls.
REFRESH_COOKIE_PATH = "/api/auth/"


def _parse(serializer_class, request):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _set_auth_cookies(response, session: dict) -> None:
    # rememberMe false: no max_age, so the browser drops the cookie when it closes.
    max_age = settings.REMEMBER_ME_SECONDS if session["remember"] else None
    common = {
        "max_age": max_age,
        "httponly": True,
        "samesite": "Lax",
        "secure": settings.PIXELL_HTTPS,
    }
    response.set_cookie(settings.AUTH_COOKIE_NAME, session["access_token"], path="/", **common)
    # The access token lives an hour; the refresh cookie lets a browser session outlive it
    # through POST /api/auth/refresh without exposing the refresh token to scripts.
    response.set_cookie(
        REFRESH_COOKIE_NAME, session["refresh_token"], path=REFRESH_COOKIE_PATH, **common
    )


def _clear_auth_cookies(response) -> None:
    response.delete_cookie(settings.AUTH_COOKIE_NAME, path="/", samesite="Lax")
    response.delete_cookie(REFRESH_COOKIE_NAME, path=REFRESH_COOKIE_PATH, samesite="Lax")


def _session_out(session: dict) -> dict:
    return s.SessionSerializer(session).data


class PublicAPIView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]


class SignupView(PublicAPIView):
    @extend_schema(
        request=s.SignupInputSerializer,
        responses={201: s.SignupOutputSerializer, **errors(400, 409, 429)},
    )
    def post(self, request):
        data = _parse(s.SignupInputSerializer, request)
        user = services.user_signup(
            email=data["email"],
            password=data["password"],
            organization_name=data.get("organizationName"),
        )
        message = (
            "Account created successfully"
            if settings.PIXELL_EMAIL_VERIFICATION == "none"
            else "Please check your email to verify your account"
        )
        return Response(
            s.SignupOutputSerializer({"message": message, "user": user}).data, status=201
        )


class VerifyEmailView(PublicAPIView):
    @extend_schema(
        request=s.KeyInputSerializer, responses={200: s.SignupOutputSerializer, **errors(400)}
    )
    def post(self, request):
        data = _parse(s.KeyInputSerializer, request)
        user = services.email_verify(key=data["key"])
        return Response(
            s.SignupOutputSerializer({"message": "Email verified successfully", "user": user}).data
        )


class ResendVerificationView(PublicAPIView):
    @extend_schema(
        request=s.EmailInputSerializer, responses={200: s.MessageSerializer, **errors(400)}
    )
    def post(self, request):
        data = _parse(s.EmailInputSerializer, request)
        services.email_verification_resend(email=data["email"])
        return Response(
            {
                "message": "If the account exists and is not verified yet, a new verification email is on its way"
            }
        )


class LoginView(PublicAPIView):
    @extend_schema(
        request=s.LoginInputSerializer,
        responses={200: s.LoginOutputSerializer, **errors(400, 401, 403, 429)},
    )
    def post(self, request):
        # Login sets the auth cookie: a form on another site must not sign a visitor's browser into
        # an account of the attacker's choosing (login CSRF).
        refuse_foreign_origin(request._request)
        data = _parse(s.LoginInputSerializer, request)
        user = services.user_login(
            email=data["email"], password=data["password"], address=client_address(request._request)
        )
        session = services.session_issue(user=user, remember=data["rememberMe"])
        response = Response({"user": s.UserSerializer(user).data, "session": _session_out(session)})
        _set_auth_cookies(response, session)
        return response


class RefreshView(PublicAPIView):
    @extend_schema(
        request=s.RefreshInputSerializer,
        responses={200: s.RefreshOutputSerializer, **errors(400, 401, 403)},
    )
    def post(self, request):
        refuse_foreign_origin(request._request)  # it reads and re-sets the auth cookies
        data = _parse(s.RefreshInputSerializer, request)
        raw = data.get("refresh_token") or request.COOKIES.get(REFRESH_COOKIE_NAME)
        if not raw:
            raise AuthenticationFailed(
                "A refresh token is required",
                details={"refresh_token": ["This field is required."]},
            )
        session = services.session_refresh(refresh_token=raw)
        response = Response({"session": _session_out(session)})
        _set_auth_cookies(response, session)
        return response


class LogoutView(PublicAPIView):
    """Always succeeds for the caller: a dead cookie or token still gets cleared."""

    @extend_schema(
        request=s.LogoutInputSerializer, responses={200: s.MessageSerializer, **errors(400, 403)}
    )
    def post(self, request):
        data = _parse(s.LogoutInputSerializer, request)
        django_request = request._request
        try:
            identity = identify(django_request)
        except AuthenticationFailed:
            identity = None
        stale_cookie = identity is None and django_request.COOKIES.get(settings.AUTH_COOKIE_NAME)
        if (identity is not None and identity.via == "cookie") or stale_cookie:
            refuse_foreign_origin(django_request)  # otherwise any site could sign our users out
        if stale_cookie:
            services.session_end_by_stale_access_token(stale_cookie)
        user = identity.user if identity is not None else None
        services.session_revoke(
            user=user,
            access_token=identity.token if identity is not None else None,
            refresh_token=data.get("refresh_token") or request.COOKIES.get(REFRESH_COOKIE_NAME),
        )
        if identity is not None and identity.via == "session":
            django_logout(django_request)
        response = Response({"message": "Logged out successfully"})
        _clear_auth_cookies(response)
        return response


class SessionView(AuthenticatedAPIView):
    allow_api_keys = False

    @extend_schema(responses={200: s.SessionInfoSerializer, **errors(401, 403, 404)})
    def get(self, request):
        try:
            organization = resolve_tenancy(request._request, self.identity).organization
        except NotFound:
            if request.headers.get("X-Organization-Id"):
                raise  # a foreign organization named explicitly stays invisible
            organization = None  # signed in, but a member of no organization (left them all)
        return Response(
            s.SessionInfoSerializer({"user": self.actor, "organization": organization}).data
        )


class PasswordResetView(PublicAPIView):
    @extend_schema(
        request=s.EmailInputSerializer, responses={200: s.MessageSerializer, **errors(400)}
    )
    def post(self, request):
        data = _parse(s.EmailInputSerializer, request)
        services.password_reset_request(email=data["email"])
        return Response(
            {"message": "If an account exists for this email, a password reset link is on its way"}
        )


class PasswordResetConfirmView(PublicAPIView):
    @extend_schema(
        request=s.PasswordResetConfirmInputSerializer,
        responses={200: s.MessageSerializer, **errors(400)},
    )
    def post(self, request):
        data = _parse(s.PasswordResetConfirmInputSerializer, request)
        services.password_reset_confirm(
            uid=data["uid"], token=data["token"], new_password=data["new_password"]
        )
        return Response({"message": "Password has been reset"})
