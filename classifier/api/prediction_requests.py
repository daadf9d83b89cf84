"""What the prediction API views share: the parsers an image arrives through, the validation of a body
or query, the services' image arguments, the 409 of a version or prediction not ready, the lookup of a
usable version, and the schema's descriptions of those answers."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.parsers import BaseParser, FormParser, MultiPartParser
from rest_framework.request import Request

from classifier.models import ModelVersion, Prediction
from classifier.selectors import model_versions_usable_by
from classifier.services.predictions import PredictionNotReady, uploaded_image_read
from classifier.services.serving import VersionNotServable
from webapp.api import Conflict, ErrorSerializer
from webapp.parsers import JSONParser
from webapp.users import request_user

# Either an upload (multipart) or a URL (JSON, or a multipart field).
IMAGE_PARSERS: list[type[BaseParser]] = [MultiPartParser, FormParser, JSONParser]
BAD_IMAGE = OpenApiResponse(
    description="No image or url, both, an image that does not decode, a refused or failed URL, or a bad "
    "top_k or threshold; the body names the field and the problem."
)
NOT_READY = OpenApiResponse(ErrorSerializer, description="The version is not ready to predict.")
UNUSABLE_VERSION = OpenApiResponse(ErrorSerializer, description="A model version you cannot use.")


@contextmanager
def state_conflicts() -> Iterator[None]:
    """A version that cannot serve, or a prediction with no answer yet, is a 409 saying so."""
    try:
        yield
    except (VersionNotServable, PredictionNotReady) as exc:
        raise Conflict(str(exc)) from exc


def valid(serializer_class: type[serializers.Serializer[Any]], data: object) -> dict[str, Any]:
    """The validated body or query; a 400 naming each field's problem otherwise."""
    params = serializer_class(data=data)
    params.is_valid(raise_exception=True)
    validated: dict[str, Any] = params.validated_data
    return validated


def prediction_arguments(options: dict[str, Any], image: dict[str, Any]) -> dict[str, Any]:
    """The prediction services' ``top_k``, ``threshold`` and image arguments, from validated options and
    a validated ``PredictImageInputSerializer`` (a queued prediction's body holds both)."""
    upload = image.get("image")
    if upload is None:
        image_arguments = {"source_url": image["url"]}
    else:
        image_arguments = {"image_bytes": uploaded_image_read(upload=upload), "filename": upload.name or ""}
    return {"top_k": options.get("top_k"), "threshold": options.get("threshold"), **image_arguments}


def image_request(serializer: type[serializers.Serializer[Prediction]]) -> dict[str, Any]:
    """The schema's request of an image view: a multipart upload, or JSON with the image's url."""
    return {"multipart/form-data": serializer, "application/json": serializer}


# Predicting needs a version's class names, artifacts, resize mode (hyperparameters) and answer threshold
# (calibration), not its evaluation: leaving the large JSON fields and the creator out keeps the lookup
# cheap on the latency-critical path.
_NOT_NEEDED_TO_PREDICT = ("metrics", "most_confused", "created_by")


def usable_version_or_404(request: Request, version_id: int) -> ModelVersion:
    versions = model_versions_usable_by(request_user(request)).select_related(None).select_related("dataset")
    return get_object_or_404(versions.defer(*_NOT_NEEDED_TO_PREDICT), pk=version_id)
