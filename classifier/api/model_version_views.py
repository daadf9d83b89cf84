"""Backbone and model-version API views: start training, read results and curves, promote, export.

Versions are changed through ``model_versions_for_user`` and read through ``model_versions_usable_by``
(which adds public datasets' versions), so another user's private version answers 404 and staff
reach everything. Nothing here loads a model: training and exports run on workers, and
downloads stream the files they stored.
"""

from django.db.models import QuerySet
from django.http import FileResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.utils.text import slugify
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from classifier.api.access import dataset_or_404, readable_dataset_or_404
from classifier.api.model_version_input_serializers import ExportFormatSerializer, ModelVersionCreateInputSerializer
from classifier.api.model_version_serializers import (
    BackboneSerializer,
    EpochMetricSerializer,
    ModelVersionDetailSerializer,
    ModelVersionSerializer,
    ModelVersionStartedSerializer,
)
from classifier.models import ModelVersion
from classifier.selectors import (
    backbones_list,
    dataset_model_versions,
    model_version_changeable_by,
    model_version_retrain_allowed,
    model_versions_for_user,
    model_versions_usable_by,
)
from classifier.selectors_versions import model_version_training_job
from classifier.services.export_metadata import version_export_metadata
from classifier.services.model_versions import (
    ModelVersionInUse,
    model_version_create,
    model_version_delete,
    model_version_promote,
    model_version_retrain,
)
from classifier.services.quantization import version_int8_missing
from training_jobs.selectors import epoch_metrics_for_job
from webapp.api import Conflict, ErrorSerializer, FileDownloadView
from webapp.downloads import stored_file_response
from webapp.parsers import JSONParser
from webapp.users import request_user

# The stored file behind each export format.
EXPORT_FILE_FIELDS = {
    "keras": "keras_file",
    "tflite": "tflite_file",
    "tflite_int8": "tflite_int8_file",
    "savedmodel": "savedmodel_file",
}
# What each format downloads as.
EXPORT_EXTENSIONS = {"keras": "keras", "tflite": "tflite", "tflite_int8": "int8.tflite", "savedmodel": "savedmodel.zip"}


def _version_or_404(request: Request, version_id: int) -> ModelVersion:
    """A version the user may change: their own (staff: any)."""
    return get_object_or_404(model_versions_for_user(request_user(request)), pk=version_id)


def _check_exportable(version: ModelVersion) -> None:
    if version.status != ModelVersion.Status.READY:
        raise Conflict(f"Version {version.number} is {version.status}; only a ready version can be exported.")


def _readable_version_or_404(request: Request, version_id: int) -> ModelVersion:
    """A version the user may read: also a public dataset's, which everyone may use."""
    return get_object_or_404(model_versions_usable_by(request_user(request)), pk=version_id)


class BackboneListView(APIView):
    @extend_schema(
        responses=BackboneSerializer(many=True),
        description="The backbones a version can be trained on; a short, fixed list, so not paginated.",
    )
    def get(self, request: Request) -> Response:
        # The stubs take a list with many=True only for a ModelSerializer.
        return Response(BackboneSerializer(backbones_list(), many=True).data)  # type: ignore[arg-type]


class DatasetModelVersionsView(GenericAPIView[ModelVersion]):
    serializer_class = ModelVersionCreateInputSerializer
    # JSON only: a form post leaves an unticked box out and DRF reads that as false, which would
    # silently turn `augment` off where a client meant "the default".
    parser_classes = [JSONParser]

    def get_queryset(self) -> QuerySet[ModelVersion]:
        return dataset_model_versions(dataset=readable_dataset_or_404(self.request, self.kwargs["dataset_id"]))

    @extend_schema(responses=ModelVersionSerializer(many=True))
    def get(self, request: Request, dataset_id: int) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ModelVersionSerializer(page, many=True).data)

    @extend_schema(
        request=ModelVersionCreateInputSerializer,
        responses={
            202: ModelVersionStartedSerializer,
            400: OpenApiResponse(
                description="A bad option, an unknown backbone, fewer than 2 classes, or a class with no "
                "training or validation images; the body names the problem."
            ),
        },
        description="Freezes the dataset's classes into a new version and queues its training job.",
    )
    def post(self, request: Request, dataset_id: int) -> Response:
        dataset = dataset_or_404(request, dataset_id)
        params = ModelVersionCreateInputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        version = model_version_create(
            dataset=dataset, requested_by=request_user(request), options=params.validated_data
        )
        return Response(ModelVersionStartedSerializer(version).data, status=status.HTTP_202_ACCEPTED)


class ModelVersionDetailView(APIView):
    @extend_schema(responses=ModelVersionDetailSerializer)
    def get(self, request: Request, version_id: int) -> Response:
        version = _readable_version_or_404(request, version_id)
        job_visible = model_version_changeable_by(user=request_user(request), version=version)
        return Response(ModelVersionDetailSerializer(version, context={"job_visible": job_visible}).data)

    @extend_schema(
        responses={
            204: None,
            409: OpenApiResponse(ErrorSerializer, description="The version is active, or still training."),
        },
        description="Deletes the version, its training job and its stored model files.",
    )
    def delete(self, request: Request, version_id: int) -> Response:
        try:
            model_version_delete(version=_version_or_404(request, version_id))
        except ModelVersionInUse as exc:
            raise Conflict(str(exc)) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)


class ModelVersionCurvesView(APIView):
    @extend_schema(
        responses=EpochMetricSerializer(many=True),
        description="One row per finished epoch of the latest training job, so it grows while it runs.",
    )
    def get(self, request: Request, version_id: int) -> Response:
        job = model_version_training_job(version=_readable_version_or_404(request, version_id))
        return Response(EpochMetricSerializer(epoch_metrics_for_job(job), many=True).data if job else [])


class ModelVersionPromoteView(APIView):
    @extend_schema(
        request=None,
        responses={200: ModelVersionDetailSerializer, 400: OpenApiResponse(description="The version is not ready.")},
        description="Makes the version its dataset's active one; promoting an older version rolls back.",
    )
    def post(self, request: Request, version_id: int) -> Response:
        version = model_version_promote(version=_version_or_404(request, version_id))
        return Response(ModelVersionDetailSerializer(version).data)


class MayRetrain(BasePermission):
    message = "Only staff can retrain a model version; start a new version on the dataset instead."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return model_version_retrain_allowed(user=request.user)


class ModelVersionRetrainView(APIView):
    permission_classes = [MayRetrain]

    @extend_schema(
        request=None,
        responses={
            202: ModelVersionStartedSerializer,
            400: OpenApiResponse(description="The dataset as it is now cannot be trained on."),
            403: OpenApiResponse(ErrorSerializer, description="Only staff can retrain."),
        },
        description="Starts a new version with this one's settings, on the dataset as it is now.",
    )
    def post(self, request: Request, version_id: int) -> Response:
        version = model_version_retrain(
            version=_version_or_404(request, version_id), requested_by=request_user(request)
        )
        return Response(ModelVersionStartedSerializer(version).data, status=status.HTTP_202_ACCEPTED)


class ModelVersionExportView(FileDownloadView):
    @extend_schema(
        parameters=[ExportFormatSerializer],
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            400: OpenApiResponse(description="Not an available format, or `tflite_int8` of a version without one."),
            404: OpenApiResponse(ErrorSerializer, description="No such version, or its file is missing."),
            409: OpenApiResponse(ErrorSerializer, description="The version is not ready."),
        },
        description="Downloads the version's stored model: `keras` (full Keras model), `tflite` (the float served "
        "model: calibrated probabilities and embeddings), `tflite_int8` (the same quantized to int8, with the same "
        "float32 input and outputs) or `savedmodel` (a zipped TensorFlow SavedModel).",
    )
    def get(self, request: Request, version_id: int) -> FileResponse | HttpResponseRedirect:
        version = _readable_version_or_404(request, version_id)
        params = ExportFormatSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        file_format = params.validated_data["format"]
        _check_exportable(version)
        if file_format == "tflite_int8" and not version.tflite_int8_file:
            raise ValidationError({"format": [version_int8_missing(version=version)]})
        download_name = f"{slugify(version.dataset.name) or f'dataset-{version.dataset_id}'}-v{version.number}"
        return stored_file_response(
            getattr(version, EXPORT_FILE_FIELDS[file_format]).name,
            missing=f"The {file_format} file of version {version.number} is not stored.",
            download_name=f"{download_name}.{EXPORT_EXTENSIONS[file_format]}",
            as_attachment=True,
            content_type="application/octet-stream",
        )


class ModelVersionExportMetadataView(APIView):
    @extend_schema(
        responses={
            200: OpenApiTypes.OBJECT,
            409: OpenApiResponse(ErrorSerializer, description="The version is not ready."),
        },
        description="How to run the version's exported files (docs/exports.md): `class_names` in output order, "
        "`image_size`, `input` (shape, dtype float32, RGB in [0, 255], `resize`: `bilinear-stretch` or "
        "`bicubic-center-crop` with its `crop_fraction`), each format's `outputs`, and whether the probabilities "
        "are `calibrated` (the `temperature` is already inside every file).",
    )
    def get(self, request: Request, version_id: int) -> Response:
        version = _readable_version_or_404(request, version_id)
        _check_exportable(version)
        return Response(version_export_metadata(version=version))
