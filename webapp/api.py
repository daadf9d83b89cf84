"""Pieces every API view shares: the token endpoint, the exception handler, the 409 error and the
base view of file downloads.

Services raise Django's ``ValidationError`` for bad input; the handler here turns it into DRF's
usual 400 shape, so a view never has to catch it and bad input never becomes a 500.
"""

from django.core.exceptions import NON_FIELD_ERRORS, RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler


class Conflict(exceptions.APIException):
    """The request is well formed but the object's state forbids it (e.g. cancelling a finished job)."""

    status_code = 409
    default_detail = "The request conflicts with the current state of the object."
    default_code = "conflict"


class ErrorSerializer(serializers.Serializer):
    """The ``{"detail": "..."}`` body of an error response, for the schema."""

    detail = serializers.CharField()


class FileDownloadNegotiation(DefaultContentNegotiation):
    """Answers errors as JSON whatever the client accepts, and leaves ``?format=`` to the view.

    DRF reads ``?format=`` as the name of a renderer (a 404 for "keras"), and would refuse a client
    that accepts only the file's type (``image/*``, ``text/csv``: a 406) before the view could send it.
    """

    def select_renderer(self, request: Request, renderers: list, format_suffix: str | None = None) -> tuple:
        return renderers[0], renderers[0].media_type


class FileDownloadView(APIView):
    """A view that answers with a stored file (``webapp.downloads.stored_file_response``); its errors are JSON."""

    renderer_classes = [JSONRenderer]
    content_negotiation_class = FileDownloadNegotiation


def _validation_error_detail(error: DjangoValidationError) -> dict:
    if hasattr(error, "error_dict"):
        return {
            api_settings.NON_FIELD_ERRORS_KEY if field == NON_FIELD_ERRORS else field: messages
            for field, messages in error.message_dict.items()
        }
    return {"detail": " ".join(error.messages)}


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler, plus a 400 for a service's ``ValidationError`` and for over-limit request bodies."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(_validation_error_detail(exc))
    elif isinstance(exc, RequestDataTooBig | TooManyFieldsSent | TooManyFilesSent):
        # Django's upload limits; left alone they would reach Django as a bare HTML 400.
        exc = exceptions.ParseError(str(exc))
    return drf_exception_handler(exc, context)


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send it as `Authorization: Token <token>`.")


class AuthTokenView(APIView):
    """Exchange a username and password for the user's API token."""

    # No session authentication here: a login form must not need a CSRF token or a prior session.
    authentication_classes: list = []
    permission_classes = [AllowAny]
    # Rate-limited: without it, this endpoint would let anyone guess passwords as fast as they like.
    throttle_classes = [AnonRateThrottle]

    @extend_schema(
        operation_id="auth_token_create",
        request=AuthTokenSerializer,
        responses={200: TokenResponseSerializer},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        credentials = AuthTokenSerializer(data=request.data, context={"request": request})
        credentials.is_valid(raise_exception=True)
        token, _ = Token.objects.get_or_create(user=credentials.validated_data["user"])
        return Response(TokenResponseSerializer({"token": token.key}).data)
