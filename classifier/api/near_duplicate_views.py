"""The near-duplicate check in the API: a dataset's groups of near-identical images with each member's
split, the groups that leak across splits, and the fix that moves each group into one split.

Reading follows the dataset (public datasets are readable by all); the fix is the owner's (staff: anyone's):
a public dataset's answers 403, another user's 404.
"""

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from classifier.api.access import dataset_or_404, readable_dataset_or_404
from classifier.models import DatasetImage
from classifier.selectors_near_duplicates import NearDuplicateGroup
from classifier.services.near_duplicates import near_duplicate_check, near_duplicates_fix


class NearDuplicateMemberSerializer(serializers.Serializer[DatasetImage]):
    image = serializers.IntegerField(source="id")
    original_name = serializers.CharField()
    split = serializers.ChoiceField(choices=DatasetImage.Split.choices)
    label = serializers.CharField(  # type: ignore[assignment]  # a field: DRF's metaclass takes it off the class
        source="label.name", allow_null=True, default=None
    )
    thumbnail_url = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.URI)
    def get_thumbnail_url(self, image: DatasetImage) -> str:
        return reverse("classifier:image-thumbnail", args=[image.id], request=self.context.get("request"))


class NearDuplicateGroupSerializer(serializers.Serializer[NearDuplicateGroup]):
    id = serializers.IntegerField(help_text="The group's first (oldest) member's image id.")
    leaks = serializers.BooleanField(help_text="The group straddles train/val/test.")
    splits = serializers.ListField(child=serializers.CharField())
    members = NearDuplicateMemberSerializer(many=True, help_text="Oldest first.")


class NearDuplicateFilterSerializer(serializers.Serializer[dict[str, Any]]):
    leaks = serializers.BooleanField(required=False, default=False, help_text="true: only the leaking groups.")


class NearDuplicateFixInputSerializer(serializers.Serializer[dict[str, Any]]):
    image = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**63 - 1,
        help_text="Fix only the group holding this image (or group id); left out: all."
    )


class NearDuplicateFixResultSerializer(serializers.Serializer[dict[str, Any]]):
    groups = serializers.IntegerField(help_text="Leaking groups moved into one split.")
    moved = inline_serializer(
        "NearDuplicateMove",
        {
            "image": serializers.IntegerField(),
            "original_name": serializers.CharField(),
            "from": serializers.CharField(),
            "to": serializers.CharField(),
        },
        many=True,
    )
    augmented_deleted = serializers.IntegerField(help_text="Augmented copies of images that left train.")


class DatasetNearDuplicatesView(GenericAPIView[DatasetImage]):
    # Groups are computed, not a queryset; this only tells the schema generator and the browsable API
    # what the path is about.
    queryset = DatasetImage.objects.none()

    @extend_schema(
        parameters=[NearDuplicateFilterSerializer],
        responses=NearDuplicateGroupSerializer(many=True),
        description=(
            "Groups of near-identical images (resized, recompressed, slightly cropped copies), oldest group first, "
            "paginated; the page also carries `summary`: {groups, leaking_groups, images, unhashed_images}. "
            "Older images are hashed on the way, SIGHTLINE_NEAR_DUPLICATE_FILL_PER_REQUEST per call."
        ),
    )
    def get(self, request: Request, dataset_id: int) -> Response:
        dataset = readable_dataset_or_404(request, dataset_id)
        filters = NearDuplicateFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        groups, summary = near_duplicate_check(dataset=dataset, leaks_only=filters.validated_data["leaks"])
        page = self.paginate_queryset(groups)
        # The stubs take a list with many=True only for a ModelSerializer.
        rows = NearDuplicateGroupSerializer(page, many=True, context={"request": request})  # type: ignore[arg-type]
        response = self.get_paginated_response(rows.data)
        response.data["summary"] = summary
        return response


class DatasetNearDuplicatesFixView(APIView):
    @extend_schema(
        request=NearDuplicateFixInputSerializer,
        responses=NearDuplicateFixResultSerializer,
        description=(
            "Moves the other members of every leaking group (or of the group holding `image`) into the split of "
            "the group's first (oldest) member, in one transaction; augmented copies whose source leaves train "
            "are deleted. 400 when `image` is in no near-duplicate group of the dataset."
        ),
    )
    def post(self, request: Request, dataset_id: int) -> Response:
        dataset = dataset_or_404(request, dataset_id)
        params = NearDuplicateFixInputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        result = near_duplicates_fix(dataset=dataset, image_id=params.validated_data.get("image"))
        return Response(NearDuplicateFixResultSerializer(result).data)
