"""The model-version list, `GET /api/v1/model-versions/`: how a token client finds the versions it can
use, its own and public datasets' (the ready ImageNet models), without knowing a dataset id first.

Rows are short on purpose: a version of an ImageNet model knows 1,000 class names, so the list gives
`class_count` and leaves the names, per-class scores and calibration to the detail.
"""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from classifier.api.model_version_serializers import ModelVersionSerializer
from classifier.models import ModelVersion
from classifier.selectors import datasets_listed_for, model_versions_listed_for
from classifier.services.quantization import FLOAT, INT8, version_serving_choice
from webapp.users import request_user


class ModelVersionFilterSerializer(serializers.Serializer[dict[str, Any]]):
    """The list's query parameters; each one left out means "any"."""

    dataset = serializers.IntegerField(required=False, min_value=1, help_text="Only this dataset's versions.")
    status = serializers.ChoiceField(choices=ModelVersion.Status.choices, required=False)
    is_active = serializers.BooleanField(
        required=False, allow_null=True, default=None, help_text="true: only the versions their datasets serve."
    )
    include_public = serializers.BooleanField(
        required=False, default=True, help_text="false: only your own datasets' versions."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        dataset_id = attrs.get("dataset")
        user = request_user(self.context["request"])
        visible = datasets_listed_for(user, include_public=attrs["include_public"])
        if dataset_id is not None and not visible.filter(id=dataset_id).exists():
            # The same words for a dataset that does not exist and another user's: nothing leaks.
            raise serializers.ValidationError({"dataset": f"There is no dataset {dataset_id} among those you can use."})
        return attrs


class ModelVersionListItemSerializer(serializers.ModelSerializer[ModelVersion]):
    dataset_name = serializers.CharField(source="dataset.name", read_only=True)
    is_public = serializers.BooleanField(
        source="dataset.is_public", read_only=True, help_text="A public dataset's version: everyone may use it."
    )
    class_count = serializers.SerializerMethodField()
    serving_model = serializers.SerializerMethodField(
        help_text='"float" or "int8": the model its answers come from; null until it is ready.'
    )
    metrics = serializers.SerializerMethodField(help_text="Null until the version is trained.")

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "dataset",
            "dataset_name",
            "is_public",
            "number",
            "backbone",
            "image_size",
            "status",
            "class_count",
            "is_active",
            "serving_model",
            "created_at",
            "trained_at",
            "metrics",
        ]
        read_only_fields = fields

    def get_class_count(self, version: ModelVersion) -> int:
        return len(version.class_names)

    @extend_schema_field(serializers.ChoiceField(choices=[FLOAT, INT8], allow_null=True))
    def get_serving_model(self, version: ModelVersion) -> str | None:
        if version.status != ModelVersion.Status.READY:
            return None
        return version_serving_choice(version=version).model

    # The same summary as a dataset's version list.
    get_metrics = ModelVersionSerializer.get_metrics


class ModelVersionListView(GenericAPIView[ModelVersion]):
    serializer_class = ModelVersionListItemSerializer

    def get_queryset(self) -> QuerySet[ModelVersion]:
        filters = ModelVersionFilterSerializer(data=self.request.query_params, context={"request": self.request})
        filters.is_valid(raise_exception=True)
        params = filters.validated_data
        return model_versions_listed_for(
            request_user(self.request),
            include_public=params["include_public"],
            dataset_id=params.get("dataset"),
            status=params.get("status"),
            is_active=params.get("is_active"),
        )

    @extend_schema(
        parameters=[ModelVersionFilterSerializer],
        responses=ModelVersionListItemSerializer(many=True),
        description="The versions you can use, newest first: your own datasets' and public ones' (the ready "
        "ImageNet models). A bad filter value answers 400 naming it.",
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ModelVersionListItemSerializer(page, many=True).data)
