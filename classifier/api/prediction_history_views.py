"""Prediction API views of the history: list it, queue a prediction into it for a worker, read one and
its image, give feedback on its answer, and add its image to the version's dataset.

Predictions are looked up through ``predictions_for_user``, so another user's answer 404.
"""

from django.db.models import QuerySet
from django.http import FileResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
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
    AddToDatasetInputSerializer,
    PredictionFeedbackInputSerializer,
    PredictionQueuedSerializer,
    PredictionQueueInputSerializer,
    PredictionSerializer,
)
from classifier.api.serializers import ImageSerializer
from classifier.models import Prediction
from classifier.selectors import predictions_for_user
from classifier.services.prediction_feedback import prediction_add_to_dataset, prediction_feedback
from classifier.services.prediction_queue import prediction_queue
from webapp.api import ErrorSerializer, FileDownloadView
from webapp.downloads import stored_file_response
from webapp.throttling import PredictionRateThrottle
from webapp.users import request_user


def _prediction_or_404(request: Request, prediction_id: int) -> Prediction:
    return get_object_or_404(predictions_for_user(request_user(request)), pk=prediction_id)


class PredictionListView(GenericAPIView[Prediction]):
    serializer_class = PredictionQueueInputSerializer
    parser_classes = IMAGE_PARSERS
    # Counts the POST (a queued prediction) only; listing is free.
    throttle_classes = [PredictionRateThrottle]

    def get_queryset(self) -> QuerySet[Prediction]:
        return predictions_for_user(request_user(self.request))

    @extend_schema(responses=PredictionSerializer(many=True), description="Your prediction history, newest first.")
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(PredictionSerializer(page, many=True, context={"request": request}).data)

    @extend_schema(
        request=image_request(PredictionQueueInputSerializer),
        responses={202: PredictionQueuedSerializer, 400: BAD_IMAGE, 404: UNUSABLE_VERSION, 409: NOT_READY},
        description="Queues a prediction for a worker (a URL is fetched there); poll "
        "/api/v1/predictions/{id}/ until its status is succeeded or failed.",
    )
    def post(self, request: Request) -> Response:
        params = valid(PredictionQueueInputSerializer, request.data)
        version = usable_version_or_404(request, params["model_version"])
        with state_conflicts():
            prediction = prediction_queue(
                owner=request_user(request), model_version=version, **prediction_arguments(params, params)
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
    def get(self, request: Request, prediction_id: int) -> FileResponse | HttpResponseRedirect:
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
        params = valid(PredictionFeedbackInputSerializer, request.data)
        with state_conflicts():
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
        params = valid(AddToDatasetInputSerializer, request.data)
        with state_conflicts():
            image = prediction_add_to_dataset(
                prediction=prediction, label_name=params["label"], new_class=params["new_class"]
            )
        return Response(ImageSerializer(image, context={"request": request}).data, status=status.HTTP_201_CREATED)
