"""Image API views: list, upload, relabel and delete a dataset's images, and queue its imports and
augmentations.

Images are always looked up through the selectors scoped to the requesting user, so another user's
image answers 404 and staff reach everything.
"""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from classifier.api.access import dataset_or_404
from classifier.api.serializers import (
    AugmentationInputSerializer,
    ImageFilterSerializer,
    ImageRelabelInputSerializer,
    ImageSerializer,
    ImageUploadInputSerializer,
    ImportInputSerializer,
    JobStartedSerializer,
    UploadResultSerializer,
)
from classifier.api.usage_views import QUOTA_EXCEEDED_RESPONSE
from classifier.models import DatasetImage
from classifier.selectors import dataset_images, images_for_user
from classifier.services.augmentation import dataset_augment_start
from classifier.services.image_deletion import image_delete
from classifier.services.images import image_relabel, images_upload
from classifier.services.imports import dataset_import_start
from classifier.services.url_imports import url_list_import_start
from webapp.parsers import JSONParser
from webapp.users import request_user


def _image_or_404(request: Request, image_id: int) -> DatasetImage:
    return get_object_or_404(images_for_user(request_user(request)), pk=image_id)



class DatasetImagesView(GenericAPIView[DatasetImage]):
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
        user = request_user(request)
        if params.validated_data.get("urls"):
            job = url_list_import_start(dataset=dataset, requested_by=user, urls=params.validated_data["urls"])
        else:
            job = dataset_import_start(
                dataset=dataset,
                requested_by=user,
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
        job = dataset_augment_start(dataset=dataset, requested_by=request_user(request), **params.validated_data)
        return Response(JobStartedSerializer({"job": job}).data, status=status.HTTP_202_ACCEPTED)
