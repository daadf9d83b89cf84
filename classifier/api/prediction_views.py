"""Prediction API views: predict an image now (with a version, a dataset's active version or an
ensemble), queue one, read the history, a prediction and its image, give feedback, add the image to
the dataset, and start a batch prediction of a ZIP.

Versions are looked up through ``model_versions_usable_by`` (the user's own and public datasets') and
predictions through ``predictions_for_user``, so anything else answers 404. Nothing here imports
TensorFlow: predictions run on the version's cached TFLite interpreter (``services.serving``).
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db.models import QuerySet
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from classifier.api.prediction_serializers import (
    AddToDatasetInputSerializer,
    BatchPredictionInputSerializer,
    EnsemblePredictInputSerializer,
    EnsembleResultSerializer,
    ModelVersionPredictOptionsSerializer,
    PredictImageInputSerializer,
    PredictionFeedbackInputSerializer,
    PredictionQueuedSerializer,
    PredictionQueueInputSerializer,
    PredictionResultSerializer,
    PredictionSerializer,
    PredictOptionsSerializer,
)
from classifier.api.serializers import ImageSerializer, JobStartedSerializer
from classifier.models import ModelVersion, Prediction
from classifier.selectors import (
    dataset_active_version,
    datasets_usable_by,
    model_versions_usable_by,
    predictions_for_user,
)
from classifier.services.batch_predictions import batch_prediction_start
from classifier.services.predictions import (
    PredictionNotReady,
    prediction_add_to_dataset,
    prediction_create,
    prediction_ensemble_create,
    prediction_feedback,
    prediction_queue,
    uploaded_image_read,
)
from classifier.services.serving import VersionNotServable
from webapp.api import Conflict, ErrorSerializer, FileDownloadView
from webapp.downloads import stored_file_response
from webapp.parsers import JSONParser
from webapp.throttling import PredictionRateThrottle

# Either an upload (multipart) or a URL (JSON, or a multipart field).
IMAGE_PARSERS = [MultiPartParser, FormParser, JSONParser]
_BAD_IMAGE = OpenApiResponse(
    description="No image or url, both, an image that does not decode, a refused or failed URL, or a bad "
    "top_k or threshold; the body names the field and the problem."
)
_NOT_READY = OpenApiResponse(ErrorSerializer, description="The version is not ready to predict.")


@contextmanager
def _state_conflicts() -> Iterator[None]:
    """A version that cannot serve, or a prediction with no answer yet, is a 409 saying so."""
    try:
        yield
    except (VersionNotServable, PredictionNotReady) as exc:
        raise Conflict(str(exc)) from exc


def _valid(serializer_class: type[serializers.Serializer], data: object) -> dict:
    params = serializer_class(data=data)
    params.is_valid(raise_exception=True)
    return params.validated_data


def _prediction_arguments(options: dict, image: dict) -> dict:
    """The prediction services' ``top_k``, ``threshold`` and image arguments, from validated options and
    a validated ``PredictImageInputSerializer`` (a queued prediction's body holds both)."""
    upload = image.get("image")
    if upload is None:
        image_arguments = {"source_url": image["url"]}
    else:
        image_arguments = {"image_bytes": uploaded_image_read(upload=upload), "filename": upload.name or ""}
    return {"top_k": options.get("top_k"), "threshold": options.get("threshold"), **image_arguments}


def _image_request(serializer: type[serializers.Serializer]) -> dict:
    """The schema's request of an image view: a multipart upload, or JSON with the image's url."""
    return {"multipart/form-data": serializer, "application/json": serializer}


# Predicting needs a version's class names, artifacts, resize mode (hyperparameters) and answer threshold
# (calibration), not its evaluation: leaving the large JSON fields and the creator out keeps the lookup
# cheap on the latency-critical path.
_NOT_NEEDED_TO_PREDICT = ("metrics", "most_confused", "created_by")


def _usable_version_or_404(request: Request, version_id: int) -> ModelVersion:
    versions = model_versions_usable_by(request.user).select_related(None).select_related("dataset")
    return get_object_or_404(versions.defer(*_NOT_NEEDED_TO_PREDICT), pk=version_id)


def _prediction_or_404(request: Request, prediction_id: int) -> Prediction:
    return get_object_or_404(predictions_for_user(request.user), pk=prediction_id)


def _predict_now(
    request: Request, version: ModelVersion, options_serializer: type[serializers.Serializer] = PredictOptionsSerializer
) -> Response:
    options = _valid(options_serializer, request.query_params)
    image = _valid(PredictImageInputSerializer, request.data)
    quantized = options.get("quantized")
    with _state_conflicts():
        prediction = prediction_create(
            owner=request.user, model_version=version, quantized=quantized, **_prediction_arguments(options, image)
        )
    return Response(PredictionResultSerializer(prediction).data)


_PREDICT_SCHEMA = {"request": _image_request(PredictImageInputSerializer), "parameters": [PredictOptionsSerializer]}
_UNUSABLE_VERSION = OpenApiResponse(ErrorSerializer, description="A model version you cannot use.")


class ModelVersionPredictView(APIView):
    parser_classes = IMAGE_PARSERS
    throttle_classes = [PredictionRateThrottle]

    @extend_schema(
        **{**_PREDICT_SCHEMA, "parameters": [ModelVersionPredictOptionsSerializer]},
        responses={200: PredictionResultSerializer, 400: _BAD_IMAGE, 409: _NOT_READY},
        description="Classifies one image now with this version and keeps it in your prediction history. "
        "`quantized` forces its int8 or float model; a bad value, or int8 for a version without one, is a 400.",
    )
    def post(self, request: Request, version_id: int) -> Response:
        version = _usable_version_or_404(request, version_id)
        return _predict_now(request, version, ModelVersionPredictOptionsSerializer)


class DatasetPredictView(APIView):
    parser_classes = IMAGE_PARSERS
    throttle_classes = [PredictionRateThrottle]

    @extend_schema(
        **_PREDICT_SCHEMA,
        responses={
            200: PredictionResultSerializer,
            400: _BAD_IMAGE,
            409: OpenApiResponse(ErrorSerializer, description="The dataset has no active version."),
        },
        description="Classifies one image now with the dataset's active version.",
    )
    def post(self, request: Request, dataset_id: int) -> Response:
        dataset = get_object_or_404(datasets_usable_by(request.user), pk=dataset_id)
        version = dataset_active_version(dataset=dataset)
        if version is None:
            raise Conflict(f'"{dataset.name}" has no active model version yet; train one, or promote a ready one.')
        return _predict_now(request, version)


class EnsemblePredictView(APIView):
    parser_classes = IMAGE_PARSERS
    throttle_classes = [PredictionRateThrottle]

    @extend_schema(
        request=_image_request(EnsemblePredictInputSerializer),
        parameters=[PredictOptionsSerializer],
        responses={
            200: EnsembleResultSerializer,
            400: OpenApiResponse(
                description="As for one version, or versions whose class sets differ (the body names each with its "
                "class count) without `shared_classes_only`, or fewer than 2 shared classes with it."
            ),
            404: _UNUSABLE_VERSION,
            409: _NOT_READY,
        },
        description="Classifies one image with 2 to 5 versions of the same classes: each one's top 3, and the mean "
        "of their probabilities aligned by class name (`top_k` applies to the ensemble). With "
        "`shared_classes_only`, versions of different classes are combined over the classes they all know.",
    )
    def post(self, request: Request) -> Response:
        options = _valid(PredictOptionsSerializer, request.query_params)
        params = _valid(EnsemblePredictInputSerializer, request.data)
        found = model_versions_usable_by(request.user).in_bulk(params["model_versions"])
        missing = [version_id for version_id in params["model_versions"] if version_id not in found]
        if missing:
            raise NotFound(f"Model version {missing[0]} was not found.")
        with _state_conflicts():
            prediction = prediction_ensemble_create(
                owner=request.user,
                model_versions=[found[version_id] for version_id in params["model_versions"]],
                shared_classes_only=params["shared_classes_only"],
                **_prediction_arguments(options, params),
            )
        return Response(EnsembleResultSerializer(prediction).data)


class PredictionListView(GenericAPIView):
    serializer_class = PredictionQueueInputSerializer
    parser_classes = IMAGE_PARSERS
    # Counts the POST (a queued prediction) only; listing is free.
    throttle_classes = [PredictionRateThrottle]

    def get_queryset(self) -> QuerySet[Prediction]:
        return predictions_for_user(self.request.user)

    @extend_schema(responses=PredictionSerializer(many=True), description="Your prediction history, newest first.")
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(PredictionSerializer(page, many=True, context={"request": request}).data)

    @extend_schema(
        request=_image_request(PredictionQueueInputSerializer),
        responses={202: PredictionQueuedSerializer, 400: _BAD_IMAGE, 404: _UNUSABLE_VERSION, 409: _NOT_READY},
        description="Queues a prediction for a worker (a URL is fetched there); poll "
        "/api/v1/predictions/{id}/ until its status is succeeded or failed.",
    )
    def post(self, request: Request) -> Response:
        params = _valid(PredictionQueueInputSerializer, request.data)
        version = _usable_version_or_404(request, params["model_version"])
        with _state_conflicts():
            prediction = prediction_queue(
                owner=request.user, model_version=version, **_prediction_arguments(params, params)
            )
        return Response(PredictionQueuedSerializer(prediction).data, status=status.HTTP_202_ACCEPTED)


class PredictionDetailView(APIView):
    @extend_schema(responses=PredictionSerializer)
    def get(self, request: Request, prediction_id: int) -> Response:
        prediction = _prediction_or_404(request, prediction_id)
        return Response(PredictionSerializer(prediction, context={"request": request}).data)


class PredictionImageView(FileDownloadView):
    @extend_schema(
        responses={
            (200, "image/*"): OpenApiTypes.BINARY,
            404: OpenApiResponse(ErrorSerializer, description="No such prediction, or it has no image (yet)."),
        },
        description="The image the prediction was made on.",
    )
    def get(self, request: Request, prediction_id: int) -> FileResponse:
        prediction = _prediction_or_404(request, prediction_id)
        return stored_file_response(prediction.image.name, missing=f"Prediction #{prediction.id} has no stored image.")


class PredictionFeedbackView(APIView):
    @extend_schema(
        request=PredictionFeedbackInputSerializer,
        responses={
            200: PredictionSerializer,
            400: OpenApiResponse(
                description="`correct_label` is not a class of the dataset or the version (the body names "
                "them) and `new_class` is not true."
            ),
            409: OpenApiResponse(ErrorSerializer, description="The prediction has no answer yet."),
        },
        description="Says whether the answer was right and, if not, what the image really shows: one of the "
        "known classes, or a new class with `new_class: true`.",
    )
    def post(self, request: Request, prediction_id: int) -> Response:
        prediction = _prediction_or_404(request, prediction_id)
        params = _valid(PredictionFeedbackInputSerializer, request.data)
        with _state_conflicts():
            prediction_feedback(prediction=prediction, **params)
        return Response(PredictionSerializer(prediction, context={"request": request}).data)


class PredictionAddToDatasetView(APIView):
    @extend_schema(
        request=AddToDatasetInputSerializer,
        responses={
            201: ImageSerializer,
            400: OpenApiResponse(
                description="A class the dataset does not have without `new_class: true` (the body names its "
                "classes), a bad class name, or the dataset already holds the picture."
            ),
            403: OpenApiResponse(ErrorSerializer, description="Only staff can add images to a public dataset."),
            409: OpenApiResponse(ErrorSerializer, description="The prediction has no stored image yet."),
        },
        description="Adds the prediction's image to its version's dataset under `label`, one of its classes; "
        "a new class is created only with `new_class: true`.",
    )
    def post(self, request: Request, prediction_id: int) -> Response:
        prediction = _prediction_or_404(request, prediction_id)
        params = _valid(AddToDatasetInputSerializer, request.data)
        with _state_conflicts():
            image = prediction_add_to_dataset(
                prediction=prediction, label_name=params["label"], new_class=params["new_class"]
            )
        return Response(ImageSerializer(image, context={"request": request}).data, status=status.HTTP_201_CREATED)


class ModelVersionBatchPredictionView(APIView):
    parser_classes = [MultiPartParser, FormParser]
    throttle_classes = [PredictionRateThrottle]

    @extend_schema(
        request={"multipart/form-data": BatchPredictionInputSerializer},
        responses={
            202: JobStartedSerializer,
            400: OpenApiResponse(description="Not a ZIP, or over the size limit."),
            409: _NOT_READY,
        },
        description="Queues a batch prediction job; when it succeeds its `result_url` is a CSV of "
        "`filename,label,probability,is_unknown,error`, one row per file.",
    )
    def post(self, request: Request, version_id: int) -> Response:
        version = _usable_version_or_404(request, version_id)
        params = _valid(BatchPredictionInputSerializer, request.data)
        with _state_conflicts():
            job = batch_prediction_start(owner=request.user, model_version=version, archive=params["archive"])
        return Response(JobStartedSerializer({"job": job}).data, status=status.HTTP_202_ACCEPTED)
