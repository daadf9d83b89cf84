"""The requesting account's quotas: what it uses of each and what it may (the pages show the same panel)."""

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from classifier.services.quotas import QUOTA_SETTINGS, account_usage
from classifier.services.url_fetch import URL_FETCHES_NOW
from webapp.users import request_user


class QuotaCountSerializer(serializers.Serializer[dict[str, Any]]):
    used = serializers.IntegerField()
    allowed = serializers.IntegerField(allow_null=True, help_text="null: no limit.")


class QuotaMinutesSerializer(serializers.Serializer[dict[str, Any]]):
    used = serializers.FloatField()
    allowed = serializers.IntegerField(allow_null=True, help_text="null: no limit.")


class AccountUsageSerializer(serializers.Serializer[dict[str, Any]]):
    images = QuotaCountSerializer(help_text="Images stored in all the account's datasets.")
    storage_bytes = QuotaCountSerializer(help_text="Bytes those images' files take.")
    active_jobs = QuotaCountSerializer(help_text="Jobs of any kind queued or running.")
    active_gpu_jobs = QuotaCountSerializer(
        help_text="Jobs for the training worker (trainings, label-issue searches) queued or running."
    )
    training_minutes = QuotaMinutesSerializer(
        help_text="Training minutes of the last 24 hours: the budget of each training queued or running, the "
        "minutes each ended one ran."
    )


class QuotaExceededSerializer(serializers.Serializer[dict[str, Any]]):
    """The body of a 429 for a request over one of the account's quotas, or over the server's sync URL
    fetches at once (``url_fetches_now``, across the host's web processes)."""

    detail = serializers.CharField()
    quota = serializers.ChoiceField(choices=[*QUOTA_SETTINGS, URL_FETCHES_NOW])
    used = serializers.FloatField()
    allowed = serializers.IntegerField()


QUOTA_EXCEEDED_RESPONSE = OpenApiResponse(
    QuotaExceededSerializer, description="Over one of the account's quotas: which one, what is used and allowed."
)


class AccountUsageView(APIView):
    @extend_schema(
        operation_id="account_usage_retrieve",
        responses=AccountUsageSerializer,
        description="What the account uses of each quota and what it may; a request over one answers 429 "
        '`{"detail", "quota", "used", "allowed"}`. Staff have no limits (`allowed` is null).',
    )
    def get(self, request: Request) -> Response:
        return Response(AccountUsageSerializer(account_usage(user=request_user(request))).data)
