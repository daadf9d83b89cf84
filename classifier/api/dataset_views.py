"""Dataset and class API views: parse the request, call a selector or service, serialize.

Datasets are always looked up through the selectors scoped to the requesting user
(``classifier.api.access``), so another user's dataset or class answers 404 and staff reach everything.
"""

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from classifier.api.access import dataset_or_404, readable_dataset_or_404
from classifier.api.serializers import (
    DatasetCreateInputSerializer,
    DatasetDetailSerializer,
    DatasetFilterSerializer,
    DatasetSerializer,
    DatasetUpdateInputSerializer,
    LabelClassCreateInputSerializer,
    LabelClassStatsSerializer,
    SplitsReassignInputSerializer,
    SplitsResultSerializer,
)
from classifier.models import Dataset, LabelClass
from classifier.selectors import dataset_class_stats, datasets_for_user, datasets_listed_for
from classifier.services.datasets import (
    dataset_create,
    dataset_delete,
    dataset_update,
    label_class_delete,
    label_class_get_or_create,
)
from classifier.services.splits import dataset_splits_reassign
from webapp.users import request_user


def _label_class_or_404(request: Request, class_id: int) -> LabelClass:
    visible = LabelClass.objects.filter(dataset__in=datasets_for_user(request_user(request)).values("pk"))
    return get_object_or_404(visible, pk=class_id)


def _class_stats(dataset: Dataset, label: LabelClass) -> dict[str, Any]:
    return next(row for row in dataset_class_stats(dataset=dataset) if row["id"] == label.id)


class DatasetListView(GenericAPIView[Dataset]):
    # Only the browsable API's form uses this; the schema and the methods name their serializers.
    serializer_class = DatasetCreateInputSerializer

    def get_queryset(self) -> QuerySet[Dataset]:
        filters = DatasetFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return datasets_listed_for(request_user(self.request), include_public=filters.validated_data["include_public"])

    @extend_schema(parameters=[DatasetFilterSerializer], responses=DatasetSerializer(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(DatasetSerializer(page, many=True).data)

    @extend_schema(request=DatasetCreateInputSerializer, responses={201: DatasetDetailSerializer})
    def post(self, request: Request) -> Response:
        params = DatasetCreateInputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        dataset = dataset_create(owner=request_user(request), **params.validated_data)
        # Read back through the selector for the annotated image count.
        dataset = dataset_or_404(request, dataset.id)
        return Response(DatasetDetailSerializer(dataset).data, status=status.HTTP_201_CREATED)


class DatasetDetailView(APIView):
    @extend_schema(responses=DatasetDetailSerializer)
    def get(self, request: Request, dataset_id: int) -> Response:
        return Response(DatasetDetailSerializer(readable_dataset_or_404(request, dataset_id)).data)

    @extend_schema(request=DatasetUpdateInputSerializer, responses=DatasetDetailSerializer)
    def patch(self, request: Request, dataset_id: int) -> Response:
        dataset = dataset_or_404(request, dataset_id)
        params = DatasetUpdateInputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        dataset_update(dataset=dataset, **params.validated_data)
        return Response(DatasetDetailSerializer(dataset_or_404(request, dataset_id)).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, dataset_id: int) -> Response:
        dataset_delete(dataset=dataset_or_404(request, dataset_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DatasetClassesView(GenericAPIView[LabelClass]):
    serializer_class = LabelClassCreateInputSerializer
    # The list is rows of counts, not a queryset; this only tells the browsable API and the schema
    # generator what the path is about.
    queryset = LabelClass.objects.none()

    @extend_schema(responses=LabelClassStatsSerializer(many=True))
    def get(self, request: Request, dataset_id: int) -> Response:
        page = self.paginate_queryset(dataset_class_stats(dataset=readable_dataset_or_404(request, dataset_id)))
        # The stubs take a list with many=True only for a ModelSerializer.
        return self.get_paginated_response(LabelClassStatsSerializer(page, many=True).data)  # type: ignore[arg-type]

    @extend_schema(
        request=LabelClassCreateInputSerializer,
        responses={201: LabelClassStatsSerializer},
        description="Adds a class; a class of that name that already exists is returned as it is.",
    )
    def post(self, request: Request, dataset_id: int) -> Response:
        dataset = dataset_or_404(request, dataset_id)
        params = LabelClassCreateInputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        label = label_class_get_or_create(dataset=dataset, name=params.validated_data["name"])
        return Response(LabelClassStatsSerializer(_class_stats(dataset, label)).data, status=status.HTTP_201_CREATED)


class LabelClassDetailView(APIView):
    @extend_schema(responses={204: None}, description="Deletes the class; its images stay, unlabelled.")
    def delete(self, request: Request, class_id: int) -> Response:
        label_class_delete(label=_label_class_or_404(request, class_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DatasetSplitsView(APIView):
    @extend_schema(
        request=SplitsReassignInputSerializer,
        responses=SplitsResultSerializer,
        description="Reassigns every image to train/val/test, stratified by class, from the seed.",
    )
    def post(self, request: Request, dataset_id: int) -> Response:
        dataset = dataset_or_404(request, dataset_id)
        params = SplitsReassignInputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        result = dataset_splits_reassign(dataset=dataset, **params.validated_data)
        return Response(SplitsResultSerializer(result).data)

