"""Prediction API views that answer now: one image by a version, by a dataset's active version, or by an
ensemble of versions, kept in the user's prediction history. Queued predictions and the history are
``prediction_history_views``'; a ZIP of images is ``batch_prediction_views``'.

Versions are looked up through ``model_versions_usable_by`` (the user's own and public datasets'), so
anything else answers 404. Nothing here imports TensorFlow: predictions run on the version's cached
TFLite interpreter (``services.serving``).
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from classifier.api.prediction_requests import (
    BAD_IMAGE,
    IMAGE_PARSERS,
    NOT_READY,
    UNUSABLE_VERSION,
    image_request,
    prediction_arguments,
    state_conflicts,
    usable_version_or_404,
    valid,
)
from classifier.api.prediction_serializers import (
    EnsemblePredictInputSerializer,
    EnsembleResultSerializer,
    ModelVersionPredictOptionsSerializer,
    PredictImageInputSerializer,
    PredictionResultSerializer,
    PredictOptionsSerializer,
)
from classifier.models import ModelVersion, Prediction
from classifier.selectors import dataset_active_version, datasets_usable_by, model_versions_usable_by
from classifier.services.prediction_ensembles import prediction_ensemble_create
from classifier.services.predictions import prediction_create
from webapp.api import Conflict, ErrorSerializer
from webapp.throttling import PredictionRateThrottle
from webapp.users import request_user


def _predict_now(
    request: Request,
    version: ModelVersion,
    options_serializer: type[serializers.Serializer[Prediction]] = PredictOptionsSerializer,
) -> Response:
    options = valid(options_serializer, request.query_params)
    image = valid(PredictImageInputSerializer, request.data)
    quantized = options.get("quantized")
    with state_conflicts():
        prediction = prediction_create(
            owner=request_user(request),
            model_version=version,
            quantized=quantized,
            **prediction_arguments(options, image),
        )
    return Response(PredictionResultSerializer(prediction).data)


class ModelVersionPredictView(APIView):
    parser_classes = IMAGE_PARSERS
    throttle_classes = [PredictionRateThrottle]

    @extend_schema(
        request=image_request(PredictImageInputSerializer),
        parameters=[ModelVersionPredictOptionsSerializer],
        responses={200: PredictionResultSerializer, 400: BAD_IMAGE, 409: NOT_READY},
        description="Classifies one image now with this version and keeps it in your prediction history. "
        "`quantized` forces its int8 or float model; a bad value, or int8 for a version without one, is a 400.",
    )
    def post(self, request: Request, version_id: int) -> Response:
        version = usable_version_or_404(request, version_id)
        return _predict_now(request, version, ModelVersionPredictOptionsSerializer)


class DatasetPredictView(APIView):
    parser_classes = IMAGE_PARSERS
    throttle_classes = [PredictionRateThrottle]

    @extend_schema(
        request=image_request(PredictImageInputSerializer),
        parameters=[PredictOptionsSerializer],
        responses={
            200: PredictionResultSerializer,
            400: BAD_IMAGE,
            409: OpenApiResponse(ErrorSerializer, description="The dataset has no active version."),
        },
        description="Classifies one image now with the dataset's active version.",
    )
    def post(self, request: Request, dataset_id: int) -> Response:
        dataset = get_object_or_404(datasets_usable_by(request_user(request)), pk=dataset_id)
        version = dataset_active_version(dataset=dataset)
        if version is None:
            raise Conflict(f'"{dataset.name}" has no active model version yet; train one, or promote a ready one.')
        return _predict_now(request, version)


class EnsemblePredictView(APIView):
    parser_classes = IMAGE_PARSERS
    throttle_classes = [PredictionRateThrottle]

    @extend_schema(
        request=image_request(EnsemblePredictInputSerializer),
        parameters=[PredictOptionsSerializer],
        responses={
            200: EnsembleResultSerializer,
            400: OpenApiResponse(
                description="As for one version, or versions whose class sets differ (the body names each with its "
                "class count) without `shared_classes_only`, or fewer than 2 shared classes with it."
            ),
            404: UNUSABLE_VERSION,
            409: NOT_READY,
        },
        description="Classifies one image with 2 to 5 versions of the same classes: each one's top 3, and the mean "
        "of their probabilities aligned by class name (`top_k` applies to the ensemble). With "
        "`shared_classes_only`, versions of different classes are combined over the classes they all know.",
    )
    def post(self, request: Request) -> Response:
        options = valid(PredictOptionsSerializer, request.query_params)
        params = valid(EnsemblePredictInputSerializer, request.data)
        user = request_user(request)
        found = model_versions_usable_by(user).in_bulk(params["model_versions"])
        missing = [version_id for version_id in params["model_versions"] if version_id not in found]
        if missing:
            raise NotFound(f"Model version {missing[0]} was not found.")
        with state_conflicts():
            prediction = prediction_ensemble_create(
                owner=user,
                model_versions=[found[version_id] for version_id in params["model_versions"]],
                shared_classes_only=params["shared_classes_only"],
                **prediction_arguments(options, params),
            )
        return Response(EnsembleResultSerializer(prediction).data)
