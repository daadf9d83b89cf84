"""The batch prediction API view: a ZIP of images predicted by one version on a worker, as a job whose
result is a CSV."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from classifier.api.prediction_requests import NOT_READY, state_conflicts, usable_version_or_404, valid
from classifier.api.prediction_serializers import BatchPredictionInputSerializer
from classifier.api.serializers import JobStartedSerializer
from classifier.services.batch_predictions import batch_prediction_start
from webapp.throttling import PredictionRateThrottle
from webapp.users import request_user


class ModelVersionBatchPredictionView(APIView):
    parser_classes = [MultiPartParser, FormParser]
    throttle_classes = [PredictionRateThrottle]

    @extend_schema(
        request={"multipart/form-data": BatchPredictionInputSerializer},
        responses={
            202: JobStartedSerializer,
            400: OpenApiResponse(description="Not a ZIP, or over the size limit."),
            409: NOT_READY,
        },
        description="Queues a batch prediction job; when it succeeds its `result_url` is a CSV of "
        "`filename,label,probability,is_unknown,error`, one row per file.",
    )
    def post(self, request: Request, version_id: int) -> Response:
        version = usable_version_or_404(request, version_id)
        params = valid(BatchPredictionInputSerializer, request.data)
        with state_conflicts():
            job = batch_prediction_start(owner=request_user(request), model_version=version, archive=params["archive"])
        return Response(JobStartedSerializer({"job": job}).data, status=status.HTTP_202_ACCEPTED)
