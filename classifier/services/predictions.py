"""Predictions answered now: one image by one version, kept in the owner's history, and what every kind
of prediction shares (the request's checks, the image read, the answer rule, the stored row). Queued
predictions are ``services.prediction_queue``'s, ensembles ``services.prediction_ensembles``', feedback
``services.prediction_feedback``'s; a ZIP of images is predicted by ``services.batch_predictions``.

Every image is checked (``image_check``) before a model sees it and stored under
``predictions/<owner id>/`` through the storage API; every prediction is kept as a ``Prediction`` row,
the owner's history. The models run through ``services.serving`` (TFLite, no TensorFlow).
"""

import logging
import statistics
import uuid
from collections.abc import Callable
from typing import Any, Protocol, TypedDict, TypeVar

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile

from classifier.models import ModelVersion, Prediction
from classifier.services.history_rows import history_row_insert
from classifier.services.imaging import (
    CheckedImage,
    ImageRejected,
    image_check,
    image_check_with_pixels,
    image_size_check,
)
from classifier.services.quantization import version_model_file
from classifier.services.serving import (
    DEFAULT_THRESHOLD,
    top_k_resolve,
    version_answer_threshold,
    version_check_servable,
    version_input,
    version_predict,
)
from classifier.services.storage import upload_size
from classifier.services.url_fetch import url_image_fetch_now
from webapp.storage import stored_files_delete
from webapp.storage_writes import BackgroundWrite, stored_file_put

logger = logging.getLogger(__name__)
T = TypeVar("T")


class PredictionNotReady(Exception):
    """The prediction has no answer (or no image) yet, so this cannot be done to it now."""


class Owner(Protocol):
    """Whose history a prediction answered now goes into. Only the id is read, so the predict endpoint's
    lean path (``api.predict_fast_path``) passes the token's user id without loading the user row."""

    @property
    def pk(self) -> int: ...


class Answer(TypedDict):
    """``prediction_answer``'s verdict, in words a person reads."""

    kind: str  # confident, uncertain, unknown or none
    labels: list[str]
    text: str


def prediction_answer(
    predictions: list[dict[str, Any]], *, is_unknown: bool, threshold: float = DEFAULT_THRESHOLD
) -> Answer:
    """The dog-breed tutorial's rule, in words a person reads: ``{"kind", "labels", "text"}``.

    Unknown when the image is unlike the training images; one label when the top probability reaches
    ``threshold``; otherwise the top two, because the model is unsure between them.
    """
    threshold_check(threshold=threshold)
    if is_unknown:
        return {"kind": "unknown", "labels": [], "text": "This is none of the classes the model knows."}
    if not predictions:
        return {"kind": "none", "labels": [], "text": "No answer yet."}
    best = predictions[0]
    if best["probability"] >= threshold:
        return {"kind": "confident", "labels": [best["label"]], "text": f"{best['label']} ({_percent(best)})."}
    shortlist = predictions[:2]
    text = " or ".join(f"{row['label']} ({_percent(row)})" for row in shortlist)
    return {"kind": "uncertain", "labels": [row["label"] for row in shortlist], "text": f"Not sure: {text}."}


def _percent(row: dict[str, Any]) -> str:
    return f"{row['probability'] * 100:.0f}%"


def threshold_check(*, threshold: float) -> None:
    if not 0.0 <= threshold <= 1.0:
        raise ValidationError({"threshold": f"threshold is a probability between 0 and 1; got {threshold:g}."})


def uploaded_image_read(*, upload: UploadedFile[bytes]) -> bytes:
    """An uploaded image's bytes, refused on its size before they are read into memory."""
    try:
        image_size_check(size=upload_size(upload), filename=upload.name or "The image")
    except ImageRejected as rejection:
        raise ValidationError({"image": rejection.detail}) from None
    return b"".join(upload.chunks())


def prediction_image_read(*, image_bytes: bytes | None, filename: str, source_url: str) -> tuple[CheckedImage, str]:
    """The checked image and its file name: the bytes given, else the image fetched from ``source_url``.

    Callers that fetched the URL already pass both its bytes and the URL, which is then only recorded.
    """
    if image_bytes is None:
        if not source_url:
            raise ValidationError({"image": "Send an image file or the url of one."})
        fetched = url_image_fetch_now(url=source_url)
        return fetched.image, fetched.filename
    field = "url" if source_url else "image"
    try:
        return image_check(content=image_bytes, filename=filename or "The image"), filename
    except ImageRejected as rejection:
        raise ValidationError({field: rejection.detail}) from None


def prediction_image_name(*, owner_id: int, checked: CheckedImage) -> str:
    """A new name for a prediction's image: a random UUID, so no other file holds it."""
    return f"predictions/{owner_id}/{uuid.uuid4().hex}.{checked.extension}"


def prediction_image_save(*, owner_id: int, checked: CheckedImage) -> str:
    return stored_file_put(name=prediction_image_name(owner_id=owner_id, checked=checked), content=checked.content)


def prediction_image_stored_while(*, owner_id: int, checked: CheckedImage, work: Callable[[], T]) -> tuple[T, str]:
    """``work()``'s result (the models') and the image's stored name: stored while the work runs
    (``webapp.storage_writes``), and deleted again if the work fails."""
    write = BackgroundWrite(name=prediction_image_name(owner_id=owner_id, checked=checked), content=checked.content)
    try:
        result = work()
        # Also inside: a worker stopped while it waits here (gunicorn's timeout) must not leave the file.
        name = write.stored_name()
    except BaseException:
        write.discard()
        raise
    return result, name


def prediction_store(
    *, owner: Owner, checked: CheckedImage, answered_now: bool = False, **fields: Any
) -> Prediction:
    """Save the image, then the row (``prediction_row_write``)."""
    name = prediction_image_save(owner_id=owner.pk, checked=checked)
    return prediction_row_write(owner=owner, image=name, answered_now=answered_now, **fields)


def prediction_row_write(*, owner: Owner, image: str, answered_now: bool = False, **fields: Any) -> Prediction:
    """The row of a prediction whose image is stored as ``image``; the image is deleted again if the row
    cannot be written.

    ``answered_now``: the history row of a prediction the client waits for, written by
    ``history_row_insert`` (one round trip, committed without waiting for the disk).
    """
    try:
        prediction = Prediction(owner_id=owner.pk, image=image, **fields)
        if answered_now:
            return history_row_insert(prediction)
        prediction.save(force_insert=True)
        return prediction
    except BaseException:
        stored_files_delete(names=[image])
        raise


def prediction_request_check(
    *,
    model_versions: list[ModelVersion],
    top_k: int | None,
    threshold: float | None,
    class_count: int | None = None,
    quantized: bool | None = None,
) -> tuple[int, float]:
    """Refuse a request before any image is read or fetched: a version that cannot serve, a model it lacks
    (``quantized``), a threshold that is no probability, a top_k beyond the ``class_count`` answered
    (default: the version's classes).

    Returns how many classes to answer with, and the threshold: the one asked for, else the version's own
    (``version_answer_threshold``; an ensemble's members' mean).
    """
    for version in model_versions:
        version_check_servable(version=version)
        if quantized is not None:
            version_model_file(version=version, quantized=quantized)
    if threshold is None:
        threshold = round(statistics.fmean(version_answer_threshold(version=version) for version in model_versions), 2)
    threshold_check(threshold=threshold)
    if class_count is None:
        class_count = len(model_versions[0].class_names)
    return top_k_resolve(class_count=class_count, requested=top_k), threshold


def answer_fields(result: dict[str, Any]) -> dict[str, Any]:
    """A Prediction's answer fields from ``version_predict``'s result."""
    return {
        "results": result["predictions"],
        "is_unknown": result["is_unknown"],
        "unknown_score": result["unknown_score"],
        "latency_ms": result["latency_ms"],
    }


def prediction_create(
    *,
    owner: Owner,
    model_version: ModelVersion,
    image_bytes: bytes | None = None,
    filename: str = "",
    source_url: str = "",
    top_k: int | None = None,
    threshold: float | None = None,
    quantized: bool | None = None,
) -> Prediction:
    """Predict one image now and keep it in the owner's history, with the answer ``threshold`` (default:
    the version's own); ``quantized`` forces its int8 or float model (default: the one it serves).

    Raises ``VersionNotServable`` (the version is not ready) before any URL is fetched, and
    ``ValidationError`` naming ``image``, ``url``, ``top_k`` or ``threshold`` for bad input.
    """
    count, threshold = prediction_request_check(
        model_versions=[model_version], top_k=top_k, threshold=threshold, quantized=quantized
    )
    pixels = None
    if image_bytes is not None and not source_url:
        # An upload is checked and turned into the model's input in one decode.
        size, resize = version_input(version=model_version, quantized=quantized)
        try:
            checked, pixels = image_check_with_pixels(
                content=image_bytes, filename=filename or "The image", size=size, resize=resize
            )
        except ImageRejected as rejection:
            raise ValidationError({"image": rejection.detail}) from None
    else:
        checked, filename = prediction_image_read(image_bytes=image_bytes, filename=filename, source_url=source_url)
    inputs = {"pixels": pixels} if pixels is not None else {"image_bytes": checked.content}
    result, image = prediction_image_stored_while(
        owner_id=owner.pk,
        checked=checked,
        work=lambda: version_predict(version=model_version, top_k=count, quantized=quantized, **inputs),
    )
    return prediction_row_write(
        owner=owner,
        image=image,
        answered_now=True,
        model_version=model_version,
        source_url=source_url,
        status=Prediction.Status.SUCCEEDED,
        top_k=count,
        details={"threshold": threshold, "filename": filename},
        **answer_fields(result),
    )

