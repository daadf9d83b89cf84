"""Dataset, class and image API views: parse the request, call a selector or service, serialize.

Objects are always looked up through the selectors scoped to the requesting user, so another user's
dataset, class or image answers 404 and staff reach everything.
"""

from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from classifier.api.serializers import (
    AugmentationInputSerializer,
    DatasetCreateInputSerializer,
    DatasetDetailSerializer,
    DatasetFilterSerializer,
    DatasetSerializer,
    DatasetUpdateInputSerializer,
    ImageFilterSerializer,
    ImageRelabelInputSerializer,
    ImageSerializer,
    ImageUploadInputSerializer,
    ImportInputSerializer,
    JobStartedSerializer,
    LabelClassCreateInputSerializer,
    LabelClassStatsSerializer,
    SplitsReassignInputSerializer,
    SplitsResultSerializer,
    UploadResultSerializer,
)
from classifier.api.usage_views import QUOTA_EXCEEDED_RESPONSE
from classifier.models import Dataset, DatasetImage, LabelClass
from classifier.selectors import (
    dataset_class_stats,
    dataset_images,
    datasets_for_user,
    datasets_listed_for,
    datasets_readable_by,
    images_for_user,
)
from classifier.services.augmentation import dataset_augment_start
from classifier.services.datasets import (
    dataset_create,
    dataset_delete,
    dataset_update,
    label_class_delete,
    label_class_get_or_create,
)
from classifier.services.images import image_delete, image_relabel, images_upload
from classifier.services.imports import dataset_import_start
from classifier.services.splits import dataset_splits_reassign
from classifier.services.url_imports import url_list_import_start
from webapp.parsers import JSONParser


def dataset_or_404(request: Request, dataset_id: int) -> Dataset:
    """The dataset, if the requesting user may change it; shared with the model-version views.

    A public dataset of another user's is readable (``readable_dataset_or_404``) but not changeable:
    that answers 403 saying so, rather than a 404 for a dataset the user can see listed.
    """
    dataset = datasets_for_user(request.user).filter(pk=dataset_id).first()
    if dataset is None:
        if datasets_readable_by(request.user).filter(pk=dataset_id).exists():
            raise PermissionDenied(
                f"Dataset {dataset_id} is public: everyone may read it and use its models; only its owner changes it."
            )
        raise Http404
    return dataset


def readable_dataset_or_404(request: Request, dataset_id: int) -> Dataset:
    """The dataset, if the user may read it: also a public one, which only its owner and staff change."""
    return get_object_or_404(datasets_readable_by(request.user), pk=dataset_id)


def _image_or_404(request: Request, image_id: int) -> DatasetImage:
    return get_object_or_404(images_for_user(request.user), pk=image_id)


def _label_class_or_404(request: Request, class_id: int) -> LabelClass:
    visible = LabelClass.objects.filter(dataset__in=datasets_for_user(request.user).values("pk"))
    return get_object_or_404(visible, pk=class_id)


def _class_stats(dataset: Dataset, label: LabelClass) -> dict:
    return next(row for row in dataset_class_stats(dataset=dataset) if row["id"] == label.id)


class DatasetListView(GenericAPIView):
    # Only the browsable API's form uses this; the schema and the methods name their serializers.
    serializer_class = DatasetCreateInputSerializer

    def get_queryset(self) -> QuerySet[Dataset]:
        filters = DatasetFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return datasets_listed_for(self.request.user, include_public=filters.validated_data["include_public"])

    @extend_schema(parameters=[DatasetFilterSerializer], responses=DatasetSerializer(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(DatasetSerializer(page, many=True).data)

    @extend_schema(request=DatasetCreateInputSerializer, responses={201: DatasetDetailSerializer})
    def post(self, request: Request) -> Response:
        params = DatasetCreateInputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        dataset = dataset_create(owner=request.user, **params.validated_data)
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


class DatasetClassesView(GenericAPIView):
    serializer_class = LabelClassCreateInputSerializer

    def get_queryset(self) -> list[dict]:
        return dataset_class_stats(dataset=readable_dataset_or_404(self.request, self.kwargs["dataset_id"]))

    @extend_schema(responses=LabelClassStatsSerializer(many=True))
    def get(self, request: Request, dataset_id: int) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(LabelClassStatsSerializer(page, many=True).data)

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


class DatasetImagesView(GenericAPIView):
    serializer_class = ImageUploadInputSerializer
    # JSON too, so a client that sends no file hears "file is required" rather than 415.
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def get_queryset(self) -> QuerySet[DatasetImage]:
        dataset = dataset_or_404(self.request, self.kwargs["dataset_id"])
        filters = ImageFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return dataset_images(
            dataset=dataset,
            label=filters.validated_data.get("label") or None,
            split=filters.validated_data.get("split") or None,
        )

    @extend_schema(parameters=[ImageFilterSerializer], responses=ImageSerializer(many=True))
    def get(self, request: Request, dataset_id: int) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ImageSerializer(page, many=True, context={"request": request}).data)

    @extend_schema(
        request={"multipart/form-data": ImageUploadInputSerializer},
        responses={
            201: UploadResultSerializer,
            400: OpenApiResponse(
                UploadResultSerializer, description="Every file was rejected, or the request was malformed."
            ),
            429: QUOTA_EXCEEDED_RESPONSE,
        },
    )
    def post(self, request: Request, dataset_id: int) -> Response:
        dataset = dataset_or_404(request, dataset_id)
        params = ImageUploadInputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        result = images_upload(
            dataset=dataset,
            files=params.validated_data["file"],
            label_name=params.validated_data.get("label") or None,
        )
        body = UploadResultSerializer(
            {
                "imported": result.imported,
                "rejected": result.rejected,
                "counts": result.counts(),
                "near_duplicates": result.near_duplicates,
            },
            context={"request": request},
        ).data
        # A partial success is still a success (201); the client reads "rejected" for the rest.
        all_rejected = not result.imported and result.rejected
        return Response(body, status=status.HTTP_400_BAD_REQUEST if all_rejected else status.HTTP_201_CREATED)


class ImageDetailView(APIView):
    @extend_schema(responses=ImageSerializer)
    def get(self, request: Request, image_id: int) -> Response:
        return Response(ImageSerializer(_image_or_404(request, image_id), context={"request": request}).data)

    @extend_schema(request=ImageRelabelInputSerializer, responses=ImageSerializer)
    def patch(self, request: Request, image_id: int) -> Response:
        image = _image_or_404(request, image_id)
        params = ImageRelabelInputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        image_relabel(image=image, label_name=params.validated_data["label"])
        image = _image_or_404(request, image_id)
        return Response(ImageSerializer(image, context={"request": request}).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, image_id: int) -> Response:
        image_delete(image=_image_or_404(request, image_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DatasetImportView(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": ImportInputSerializer},
        responses={202: JobStartedSerializer, 429: QUOTA_EXCEEDED_RESPONSE},
        description=(
            "Queues an import job of a ZIP (`archive`) or of a URL list (`urls`); its finished `report` "
            "counts and lists every rejected file or URL."
        ),
    )
    def post(self, request: Request, dataset_id: int) -> Response:
        dataset = dataset_or_404(request, dataset_id)
        params = ImportInputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        if params.validated_data.get("urls"):
            job = url_list_import_start(dataset=dataset, requested_by=request.user, urls=params.validated_data["urls"])
        else:
            job = dataset_import_start(
                dataset=dataset,
                requested_by=request.user,
                archive=params.validated_data["archive"],
                labels=params.validated_data.get("labels"),
            )
        return Response(JobStartedSerializer({"job": job}).data, status=status.HTTP_202_ACCEPTED)


class DatasetAugmentationView(APIView):
    @extend_schema(
        request=AugmentationInputSerializer,
        responses={202: JobStartedSerializer, 429: QUOTA_EXCEEDED_RESPONSE},
        description=(
            "Queues an augmentation job that tops up each class's training split with augmented copies "
            "of its own training images; its finished `report` counts the copies made per class."
        ),
    )
    def post(self, request: Request, dataset_id: int) -> Response:
        dataset = dataset_or_404(request, dataset_id)
        params = AugmentationInputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        job = dataset_augment_start(dataset=dataset, requested_by=request.user, **params.validated_data)
        return Response(JobStartedSerializer({"job": job}).data, status=status.HTTP_202_ACCEPTED)
