"""The predict endpoint's lean path: ``POST /api/v1/model-versions/{id}/predict/`` with a token and an
uploaded image, answered before the rest of the middleware, DRF and the ORM's query compilation.

Why: under load the Python around the interpreter cost more than the interpreter (docs/serving.md):
DRF's request, parsers, authentication, throttle and serializer, and compiling three ORM queries, took
~4 ms a request against a ~5 ms interpreter call. This path does the same work with the same services
in one query (``selectors_serving``), one insert and a JSON dump.

It answers only the requests it is sure of: a ``Token`` header, a multipart body of one ``image`` file
and no other field, options it can read, a version the token's user may use, an image the checks take.
Everything else (session cookies, a url, bad input, a version that cannot serve, a throttled client)
goes on to the DRF view, which gives the documented answer or error; the rate limit counted here is not
counted again there. The answer is the DRF view's, byte for byte (tests compare the two).
"""

import json
import re
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost, SuspiciousOperation, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponse, QueryDict
from django.http.multipartparser import MultiPartParserError
from rest_framework.exceptions import Throttled

from classifier.models import Prediction
from classifier.selectors_serving import model_version_usable_with_token
from classifier.services.predictions import prediction_answer, prediction_create, uploaded_image_read
from classifier.services.serving import DEFAULT_THRESHOLD, VersionNotServable
from webapp.throttling import PREDICTION_COUNTED, CountsUnavailable, PredictionRateThrottle

PREDICT_PATH = re.compile(r"/api/v1/model-versions/([1-9][0-9]{0,17})/predict/")
# The query options the DRF view takes, in the forms read here; anything else is left to its serializer.
_INTEGER = re.compile(r"[0-9]{1,4}")
_BOOLEANS = {"true": True, "false": False}
_HEADERS = {"Vary": "Accept", "Allow": "POST, OPTIONS"}
# Accept headers DRF answers with plain JSON (its JSON renderer comes first); any other is left to DRF's
# content negotiation (the browsable API, an indent, or a 406).
_JSON_ACCEPTED = {"", "*/*", "application/json"}


class PredictFastPathMiddleware:
    """Placed right after SecurityMiddleware (its headers still apply); see the module's docstring."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST":
            match = PREDICT_PATH.fullmatch(request.path_info)
            if match is not None:
                response = predict_fast(request, version_id=int(match[1]))
                if response is not None:
                    return response
        return self.get_response(request)


def predict_fast(request: HttpRequest, *, version_id: int) -> HttpResponse | None:
    """The DRF view's 200 answer, or None to let the DRF view answer the request."""
    token_key = _token_key(request.META.get("HTTP_AUTHORIZATION", ""))
    options = _options(request.GET)
    if token_key is None or options is None or not _small_multipart(request) or not _plain_request(request):
        return None
    found = model_version_usable_with_token(token_key=token_key, version_id=version_id)
    if found is None:
        return None
    if not _throttle_allows(request, user_id=found.user_id):
        return None
    upload = _single_upload(request)
    if upload is None:
        return None
    owner = SimpleNamespace(pk=found.user_id)
    try:
        prediction = prediction_create(
            owner=owner,
            model_version=found.version,
            image_bytes=uploaded_image_read(upload=upload),
            filename=upload.name or "",
            **options,
        )
    except (ValidationError, VersionNotServable):
        return None
    # As DRF's JSONRenderer writes it: compact, UTF-8, the two JavaScript line terminators escaped.
    text = json.dumps(prediction_result(prediction), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    body = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()
    response = HttpResponse(body, content_type="application/json")
    for name, value in _HEADERS.items():
        response[name] = value
    response["X-Frame-Options"] = getattr(settings, "X_FRAME_OPTIONS", "DENY")
    # CommonMiddleware, which the DRF view's answers pass through, sets it; nginx's gzip decides on it.
    response["Content-Length"] = str(len(body))
    return response


def prediction_result(prediction: Prediction) -> dict[str, Any]:
    """``PredictionResultSerializer``'s fields, in its order, for a prediction answered now."""
    threshold = prediction.details.get("threshold", DEFAULT_THRESHOLD)
    return {
        "answer": prediction_answer(prediction.results, is_unknown=prediction.is_unknown, threshold=threshold),
        "predictions": [
            {"label": str(row["label"]), "probability": float(row["probability"])} for row in prediction.results
        ],
        "is_unknown": bool(prediction.is_unknown),
        "unknown_score": None if prediction.unknown_score is None else float(prediction.unknown_score),
        "model_version": prediction.model_version_id,
        "latency_ms": None if prediction.latency_ms is None else float(prediction.latency_ms),
        "prediction_id": prediction.id,
    }


def _token_key(header: str) -> str | None:
    """The key of an ``Authorization: Token <key>`` header, read as DRF's TokenAuthentication reads it:
    split as bytes (on ASCII whitespace only), the key decoded as UTF-8."""
    try:
        parts = header.encode("iso-8859-1").split()
        if len(parts) != 2 or parts[0].lower() != b"token":
            return None
        return parts[1].decode()
    except UnicodeError:
        return None


def _plain_request(request: HttpRequest) -> bool:
    """A request every middleware the lean path skips would let through unchanged: a host the site serves
    (CommonMiddleware refuses others with a 400) and an Accept header DRF answers with plain JSON."""
    try:
        request.get_host()
    except DisallowedHost:
        return False
    return request.META.get("HTTP_ACCEPT", "").strip() in _JSON_ACCEPTED


def _options(query: QueryDict) -> dict[str, Any] | None:
    """top_k, threshold and quantized from the query string, or None for anything the serializer should judge."""
    if not set(query) <= {"top_k", "threshold", "quantized"} or any(len(query.getlist(key)) != 1 for key in query):
        return None
    values = {key: str(query.get(key)) for key in query}
    options: dict[str, Any] = {}
    if "top_k" in values:
        if not _INTEGER.fullmatch(values["top_k"]):
            return None
        options["top_k"] = int(values["top_k"])
    if "threshold" in values:
        if len(values["threshold"]) > 1000:  # DRF's FloatField refuses longer strings
            return None
        try:
            threshold = float(values["threshold"])
        except ValueError:
            return None
        if not 0.0 <= threshold <= 1.0:
            return None
        options["threshold"] = threshold
    if "quantized" in values:
        if values["quantized"] not in _BOOLEANS:
            return None
        options["quantized"] = _BOOLEANS[values["quantized"]]
    return options


def _small_multipart(request: HttpRequest) -> bool:
    """A multipart body small enough to hold in memory (larger ones stream to disk in the DRF view)."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    limit, memory = settings.SIGHTLINE_MAX_REQUEST_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if memory is not None:  # None: Django holds any body in memory
        limit = min(limit, memory)
    return 0 < declared <= limit and request.content_type == "multipart/form-data"


def _single_upload(request: HttpRequest) -> "UploadedFile[bytes] | None":
    """The one ``image`` file of a body holding nothing else, or None."""
    try:
        # Read once and kept: if this path gives up, the DRF view parses the same bytes again itself.
        request.body  # noqa: B018
        files, fields = request.FILES, request.POST
    except (MultiPartParserError, SuspiciousOperation):
        return None
    if fields or list(files) != ["image"] or len(files.getlist("image")) != 1:
        return None
    upload = files.get("image")
    return upload if isinstance(upload, UploadedFile) else None


def _throttle_allows(request: HttpRequest, *, user_id: int) -> bool:
    """The DRF view's rate limit, counted here once; a refusal (or counts that cannot be read) is left to
    the DRF view to explain."""
    counted = SimpleNamespace(method="POST", user=SimpleNamespace(pk=user_id, is_authenticated=True), META=request.META)
    try:
        PredictionRateThrottle().allow_request(counted, None)  # type: ignore[arg-type]
    except (Throttled, CountsUnavailable):
        return False
    request.META[PREDICTION_COUNTED] = True
    return True
