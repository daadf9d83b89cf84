"""Pieces every API view shares: the token endpoint, the exception handler, the 409 error and the
base view of file downloads.

Services raise Django's ``ValidationError`` for bad input; the handler here turns it into DRF's
usual 400 shape, so a view never has to catch it and bad input never becomes a 500.
"""

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.authentication import BaseAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from classifier.services.quotas import QuotaExceeded
from webapp.lockout import lockout_message, lockout_retry_after
from webapp.throttling import TokenRateThrottle


class Conflict(exceptions.APIException):
    """The request is well formed but the object's state forbids it (e.g. cancelling a finished job)."""

    status_code = 409
    default_detail = "The request conflicts with the current state of the object."
    default_code = "conflict"


class SignInLocked(exceptions.APIException):
    """Too many failed sign-ins for this username from this address (django-axes): a 429 with Retry-After."""

    status_code = 429
    default_code = "locked_out"

    def __init__(self) -> None:
        super().__init__(lockout_message())
        self.wait = int(lockout_retry_after())


class ErrorSerializer(serializers.Serializer[dict[str, Any]]):
    """The ``{"detail": "..."}`` body of an error response, for the schema."""

    detail = serializers.CharField()


class FileDownloadNegotiation(DefaultContentNegotiation):
    """Answers errors as JSON whatever the client accepts, and leaves ``?format=`` to the view.

    DRF reads ``?format=`` as the name of a renderer (a 404 for "keras"), and would refuse a client
    that accepts only the file's type (``image/*``, ``text/csv``: a 406) before the view could send it.
    """

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        first = next(iter(renderers))
        return first, first.media_type


class FileDownloadView(APIView):
    """A view that answers with a stored file (``webapp.downloads.stored_file_response``); its errors are JSON."""

    renderer_classes = [JSONRenderer]
    content_negotiation_class = FileDownloadNegotiation


def _validation_error_detail(error: DjangoValidationError) -> dict[str, Any]:
    if hasattr(error, "error_dict"):
        return {
            api_settings.NON_FIELD_ERRORS_KEY if field == NON_FIELD_ERRORS else field: messages
            for field, messages in error.message_dict.items()
        }
    return {"detail": " ".join(error.messages)}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus a 400 for a service's ``ValidationError`` and for over-limit request bodies, and a
    429 naming the quota, with what is used and allowed, for a request over one of its account's quotas."""
    if isinstance(exc, QuotaExceeded):
        body = {"detail": exc.message, "quota": exc.quota, "used": exc.used, "allowed": exc.allowed}
        return Response(body, status=429)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(_validation_error_detail(exc))
    elif isinstance(exc, RequestDataTooBig | TooManyFieldsSent | TooManyFilesSent):
        # Django's upload limits; left alone they would reach Django as a bare HTML 400.
        exc = exceptions.ParseError(str(exc))
    return drf_exception_handler(exc, context)


class TokenResponseSerializer(serializers.Serializer[dict[str, Any]]):
    token = serializers.CharField(help_text="Send it as `Authorization: Token <token>`.")


class AuthTokenView(APIView):
    """Exchange a username and password for the user's API token."""

    # No session authentication here: a login form must not need a CSRF token or a prior session.
    authentication_classes: list[type[BaseAuthentication]] = []
    permission_classes = [AllowAny]
    # Rate-limited per client address, and django-axes (the first authentication backend) locks a
    # username out from an address after repeated failures: no guessing passwords as fast as one likes.
    throttle_classes = [TokenRateThrottle]

    @extend_schema(
        operation_id="auth_token_create",
        request=AuthTokenSerializer,
        responses={
            200: TokenResponseSerializer,
            429: OpenApiResponse(
                ErrorSerializer,
                description="Too many attempts from this address, or too many "
                "failed ones for this username: the body and Retry-After say when to try again.",
            ),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        credentials = AuthTokenSerializer(data=request.data, context={"request": request})
        if not credentials.is_valid():
            # Set by django-axes on this request when this attempt reached, or met, a lockout.
            if getattr(request, "axes_locked_out", False):
                raise SignInLocked()
            raise exceptions.ValidationError(credentials.errors)
        token, _ = Token.objects.get_or_create(user=credentials.validated_data["user"])
        return Response(TokenResponseSerializer({"token": token.key}).data)
