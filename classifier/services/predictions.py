"""Predictions: one image by one version (now, or queued for a cpu worker, with the reaper of queued ones
that no worker ran), by an ensemble of versions, the owner's feedback, and a wrong answer turned into a
training image. A ZIP of images is predicted by ``services.batch_predictions``.

Every image is checked (``image_check``) before a model sees it and stored under
``predictions/<owner id>/`` through the storage API; every prediction is kept as a ``Prediction`` row,
the owner's history. The models run through ``services.serving`` (TFLite, no TensorFlow).
"""

import difflib
import logging
import statistics
import time
import uuid
from collections.abc import Iterable
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from classifier.ml.predictor import top_k as top_classes
from classifier.models import DatasetImage, ModelVersion, Prediction
from classifier.services.ensembles import ensemble_classes, ensemble_member_add
from classifier.services.images import image_add
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
    VersionNotServable,
    top_k_resolve,
    version_answer_threshold,
    version_check_servable,
    version_input,
    version_predict,
    version_scores,
)
from classifier.services.url_fetch import url_check, url_image_fetch, url_image_fetch_now
from training_jobs.services import stale_cutoff
from webapp.storage import stored_files_delete

logger = logging.getLogger(__name__)

ENSEMBLE_MEMBER_TOP_K = 3
MIN_ENSEMBLE_VERSIONS, MAX_ENSEMBLE_VERSIONS = 2, 5


class PredictionNotReady(Exception):
    """The prediction has no answer (or no image) yet, so this cannot be done to it now."""


def prediction_answer(predictions: list[dict], *, is_unknown: bool, threshold: float = DEFAULT_THRESHOLD) -> dict:
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


def _percent(row: dict) -> str:
    return f"{row['probability'] * 100:.0f}%"


def threshold_check(*, threshold: float) -> None:
    if not 0.0 <= threshold <= 1.0:
        raise ValidationError({"threshold": f"threshold is a probability between 0 and 1; got {threshold:g}."})


def uploaded_image_read(*, upload: UploadedFile) -> bytes:
    """An uploaded image's bytes, refused on its size before they are read into memory."""
    try:
        image_size_check(size=upload.size, filename=upload.name or "The image")
    except ImageRejected as rejection:
        raise ValidationError({"image": rejection.detail}) from None
    return b"".join(upload.chunks())


def _image_read(*, image_bytes: bytes | None, filename: str, source_url: str) -> tuple[CheckedImage, str]:
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


def _image_save(*, owner_id: int, checked: CheckedImage) -> str:
    return default_storage.save(
        f"predictions/{owner_id}/{uuid.uuid4().hex}.{checked.extension}", ContentFile(checked.content)
    )


def _prediction_store(
    *, owner: AbstractBaseUser, checked: CheckedImage, commit_without_flush: bool = False, **fields
) -> Prediction:
    """Save the image, then the row; the image is deleted again if the row cannot be written.

    ``commit_without_flush``: the row alone in its transaction, committed without waiting for the disk
    (see ``_commit_without_flush``); for the history rows of predictions answered now.
    """
    name = _image_save(owner_id=owner.pk, checked=checked)
    try:
        if not commit_without_flush:
            return Prediction.objects.create(owner=owner, image=name, **fields)
        with transaction.atomic():
            _commit_without_flush()
            return Prediction.objects.create(owner=owner, image=name, **fields)
    except BaseException:
        stored_files_delete(names=[name])
        raise


def _commit_without_flush() -> None:
    """Let the current transaction commit without PostgreSQL waiting for its WAL to reach the disk.

    A sync prediction writes its history row while the client waits, and a durable commit is an fsync:
    milliseconds, more than the rest of the request's database work, and under load the commits queue
    for the disk. Committed asynchronously, the row is visible to every session at once and on disk
    within PostgreSQL's wal_writer_delay (200 ms) a few times over; only a database crash inside that
    window loses it (its stored image then becomes an orphan the sweep deletes). Call it only inside a
    transaction that writes nothing else: everything in it shares that risk. Other databases commit
    as they always do.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _request_check(
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


def _answer_fields(result: dict) -> dict:
    """A Prediction's answer fields from ``version_predict``'s result."""
    return {
        "results": result["predictions"],
        "is_unknown": result["is_unknown"],
        "unknown_score": result["unknown_score"],
        "latency_ms": result["latency_ms"],
    }


def prediction_create(
    *,
    owner: AbstractBaseUser,
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
    count, threshold = _request_check(
        model_versions=[model_version], top_k=top_k, threshold=threshold, quantized=quantized
    )
    if image_bytes is not None and not source_url:
        # An upload is checked and turned into the model's input in one decode.
        size, resize = version_input(version=model_version, quantized=quantized)
        try:
            checked, pixels = image_check_with_pixels(
                content=image_bytes, filename=filename or "The image", size=size, resize=resize
            )
        except ImageRejected as rejection:
            raise ValidationError({"image": rejection.detail}) from None
        result = version_predict(version=model_version, pixels=pixels, top_k=count, quantized=quantized)
    else:
        checked, filename = _image_read(image_bytes=image_bytes, filename=filename, source_url=source_url)
        result = version_predict(version=model_version, image_bytes=checked.content, top_k=count, quantized=quantized)
    return _prediction_store(
        owner=owner,
        checked=checked,
        commit_without_flush=True,
        model_version=model_version,
        source_url=source_url,
        status=Prediction.Status.SUCCEEDED,
        top_k=count,
        details={"threshold": threshold, "filename": filename},
        **_answer_fields(result),
    )


def prediction_queue(
    *,
    owner: AbstractBaseUser,
    model_version: ModelVersion,
    image_bytes: bytes | None = None,
    filename: str = "",
    source_url: str = "",
    top_k: int | None = None,
    threshold: float | None = None,
) -> Prediction:
    """Keep the request as a queued prediction and run it on a cpu worker (``prediction_run``).

    The version, top_k, an uploaded image and the URL's form are checked now; a URL is fetched by
    the worker, so a slow or refusing server never holds a web process.
    """
    count, threshold = _request_check(model_versions=[model_version], top_k=top_k, threshold=threshold)
    fields = {
        "model_version": model_version,
        "status": Prediction.Status.QUEUED,
        "top_k": count,
        "details": {"threshold": threshold, "filename": filename},
    }
    with transaction.atomic():
        if image_bytes is not None:
            checked, _ = _image_read(image_bytes=image_bytes, filename=filename, source_url="")
            prediction = _prediction_store(owner=owner, checked=checked, source_url=source_url, **fields)
        elif source_url:
            prediction = Prediction.objects.create(owner=owner, source_url=url_check(url=source_url), **fields)
        else:
            raise ValidationError({"image": "Send an image file or the url of one."})
        transaction.on_commit(lambda: prediction_send(prediction_id=prediction.id))
    return prediction


def prediction_send(*, prediction_id: int) -> bool:
    """Hand a queued prediction's task to the broker; False if the broker refused it (the reaper
    sends it again)."""
    from classifier.tasks import run_prediction

    now = timezone.now()
    if not Prediction.objects.filter(id=prediction_id, status=Prediction.Status.QUEUED).update(
        sent_at=now, started_at=None
    ):
        return False
    try:
        # Its queue ("inference") comes from CELERY_TASK_ROUTES.
        run_prediction.apply_async(args=[prediction_id])
    except Exception:
        logger.exception("Could not send prediction %s to the broker; the reaper will send it again.", prediction_id)
        Prediction.objects.filter(id=prediction_id, status=Prediction.Status.QUEUED).update(sent_at=None)
        return False
    return True


def prediction_run(*, prediction_id: int) -> None:
    """The inference task's work: fetch (for a URL) and predict a queued prediction, ending it succeeded or
    failed with the reason. A prediction that is no longer queued is left alone, so a task delivered
    twice runs it once. One whose worker was lost too often while running it fails with that reason."""
    queued = Prediction.objects.filter(id=prediction_id, status=Prediction.Status.QUEUED)
    if not queued.update(started_at=timezone.now(), attempts=F("attempts") + 1):
        return
    prediction = queued.select_related("model_version__dataset").first()
    if prediction is None:
        return
    if prediction.attempts > settings.SIGHTLINE_JOB_MAX_ATTEMPTS:
        queued.update(
            status=Prediction.Status.FAILED,
            error=f"The worker running this prediction was lost {prediction.attempts - 1} times; send the image "
            "again, or a smaller one.",
        )
        return
    fetched_name = ""
    try:
        version = prediction.model_version
        if version is None:
            raise VersionNotServable("The model version was deleted before the prediction ran.")
        if prediction.image:
            with default_storage.open(prediction.image.name, "rb") as stored:
                content = stored.read()
        else:
            fetched = url_image_fetch(url=prediction.source_url)
            content = fetched.image.content
            fetched_name = _image_save(owner_id=prediction.owner_id, checked=fetched.image)
        result = version_predict(version=version, image_bytes=content, top_k=prediction.top_k)
    except (ValidationError, VersionNotServable) as error:
        messages = error.messages if isinstance(error, ValidationError) else [str(error)]
        fields: dict = {"status": Prediction.Status.FAILED, "error": " ".join(messages)}
    except Exception as error:
        # Every prediction must end somewhere the user can see; the operator gets the traceback.
        logger.exception("Prediction %s failed.", prediction_id)
        fields = {"status": Prediction.Status.FAILED, "error": f"{type(error).__name__}: {error}"}
    else:
        fields = {"status": Prediction.Status.SUCCEEDED, **_answer_fields(result)}
    if fetched_name:
        fields["image"] = fetched_name
    finished = Prediction.objects.filter(id=prediction_id, status=Prediction.Status.QUEUED).update(**fields)
    if not finished and fetched_name:
        # Another delivery of the task finished it first; its own copy of the image is the one kept.
        stored_files_delete(names=[fetched_name])


def predictions_reap() -> int:
    """The reaper's round for queued predictions (they have no heartbeat: each takes seconds).

    Waiting behind long jobs is not a failure: a prediction is sent again when its task never reached
    the broker, when no worker took it for ``SIGHTLINE_JOB_RESEND_SECONDS`` (a duplicate delivery runs
    it once), or when a worker started it and was lost. It fails only when no worker ran it within
    ``SIGHTLINE_PREDICTION_MAX_WAIT_SECONDS``. Returns how many it sent again or failed."""
    now = timezone.now()
    queued = Prediction.objects.filter(status=Prediction.Status.QUEUED)
    expired = queued.filter(created_at__lt=now - timedelta(seconds=settings.SIGHTLINE_PREDICTION_MAX_WAIT_SECONDS))
    hours = settings.SIGHTLINE_PREDICTION_MAX_WAIT_SECONDS / 3600
    failed = expired.update(
        status=Prediction.Status.FAILED,
        error=f"No worker ran this prediction within {hours:g} hours; it was marked failed. Send the image again.",
    )
    lost = Q(started_at__lt=stale_cutoff(now=now))
    unsent = Q(started_at__isnull=True) & (
        Q(sent_at__isnull=True, created_at__lt=now - timedelta(seconds=10))
        | Q(sent_at__lt=now - timedelta(seconds=settings.SIGHTLINE_JOB_RESEND_SECONDS))
    )
    sent = sum(prediction_send(prediction_id=pk) for pk in queued.filter(lost | unsent).values_list("id", flat=True))
    return failed + sent


def prediction_ensemble_create(
    *,
    owner: AbstractBaseUser,
    model_versions: list[ModelVersion],
    image_bytes: bytes | None = None,
    filename: str = "",
    source_url: str = "",
    top_k: int | None = None,
    threshold: float | None = None,
    shared_classes_only: bool = False,
) -> Prediction:
    """Predict one image with 2 to 5 versions and combine them: the mean of their probabilities,
    aligned by class name.

    The versions must know the same classes (``ensemble_classes`` refuses others before any image is
    read), unless ``shared_classes_only``: then the ensemble answers over the classes they all know, each
    member's probabilities over those scaled to sum to 1. Each member's own top 3 is kept in
    ``details["members"]``; the ensemble's top ``top_k`` is the prediction's ``results``. It is unknown
    only when every member with a detector says so: one member knowing the image is enough to answer it.
    """
    ids = [version.id for version in model_versions]
    if not MIN_ENSEMBLE_VERSIONS <= len(ids) <= MAX_ENSEMBLE_VERSIONS:
        raise ValidationError(
            {
                "model_versions": f"An ensemble combines {MIN_ENSEMBLE_VERSIONS} to {MAX_ENSEMBLE_VERSIONS} "
                f"model versions; got {len(ids)}."
            }
        )
    if len(set(ids)) != len(ids):
        raise ValidationError({"model_versions": "Each model version may appear in an ensemble only once."})
    classes = ensemble_classes(model_versions=model_versions, shared_classes_only=shared_classes_only)
    count, threshold = _request_check(
        model_versions=model_versions, top_k=top_k, threshold=threshold, class_count=len(classes)
    )
    checked, filename = _image_read(image_bytes=image_bytes, filename=filename, source_url=source_url)

    started = time.perf_counter()
    total = np.zeros(len(classes), dtype=np.float64)
    members, verdicts = [], []
    for version in model_versions:
        scores = version_scores(version=version, image_bytes=checked.content)
        ensemble_member_add(
            total=total,
            classes=classes,
            class_names=version.class_names,
            probabilities=scores.probabilities,
            renormalise=shared_classes_only,
        )
        if scores.unknown_score is not None:
            verdicts.append(scores.is_unknown)
        members.append(
            {
                "model_version": version.id,
                "predictions": top_classes(scores.probabilities, version.class_names, ENSEMBLE_MEMBER_TOP_K),
                "is_unknown": scores.is_unknown,
            }
        )
    return _prediction_store(
        owner=owner,
        checked=checked,
        commit_without_flush=True,
        ensemble_version_ids=ids,
        source_url=source_url,
        status=Prediction.Status.SUCCEEDED,
        top_k=count,
        results=top_classes(total / len(model_versions), classes, count),
        is_unknown=bool(verdicts) and all(verdicts),
        latency_ms=(time.perf_counter() - started) * 1000,
        details={
            "threshold": threshold,
            "filename": filename,
            "members": members,
            "shared_classes_only": shared_classes_only,
        },
    )


# A refusal names at most this many classes: ImageNet's thousand would bury the sentence that matters.
CLASSES_NAMED_IN_ERRORS = 30


def prediction_class_names(*, prediction: Prediction) -> list[str]:
    """The classes feedback on ``prediction`` may name, sorted: its version's dataset's classes and the
    names its version (each version of an ensemble) was trained on, which may include classes deleted
    since, plus the labels of its answer (all that is left once its versions are deleted)."""
    names = {row["label"] for row in prediction.results}
    if prediction.model_version is not None:
        names |= set(prediction.model_version.class_names)
        names |= set(prediction.model_version.dataset.classes.values_list("name", flat=True))
    elif prediction.ensemble_version_ids:
        for class_names in ModelVersion.objects.filter(id__in=prediction.ensemble_version_ids).values_list(
            "class_names", flat=True
        ):
            names |= set(class_names)
    return _in_reading_order(names)


def _in_reading_order(names: Iterable[str]) -> list[str]:
    return sorted(names, key=lambda name: (name.casefold(), name))


def _class_match(name: str, names: list[str]) -> str | None:
    """``name`` as spelled in ``names``; a difference in case alone is a slip, not another class."""
    if name in names:
        return name
    return next((known for known in names if known.casefold() == name.casefold()), None)


def _not_a_class(*, field: str, name: str, names: list[str], where: str) -> ValidationError:
    """The refusal of a class name that is not one of ``names``: what was probably meant, what the classes
    are, and that a new class has to be asked for."""
    text = f'"{name}" is not a class of {where}.'
    close = difflib.get_close_matches(name.casefold(), [known.casefold() for known in names], n=3)
    suggestions = [next(known for known in names if known.casefold() == folded) for folded in close]
    if suggestions:
        text += " Did you mean " + " or ".join(f'"{known}"' for known in suggestions) + "?"
    if not names:
        text += " It has no classes yet."
    else:
        shown = ", ".join(names[:CLASSES_NAMED_IN_ERRORS])
        more = len(names) - CLASSES_NAMED_IN_ERRORS
        text += f" Its classes: {shown}" + (f" and {more} more." if more > 0 else ".")
    text += " To start a new class by that name, ask for a new class (new_class)."
    return ValidationError({field: text}, code="unknown_class")


def prediction_feedback(
    *, prediction: Prediction, is_correct: bool, correct_label: str = "", new_class: bool = False
) -> Prediction:
    """Record whether the answer was right and, if not, what the image really shows (may be blank).

    The label must be one of ``prediction_class_names`` (in any case; it is stored as that class is
    spelled), so a typo is refused rather than becoming a class later; another name is taken only with
    ``new_class``, the owner's explicit choice.
    """
    if prediction.status != Prediction.Status.SUCCEEDED:
        raise PredictionNotReady(f"Prediction #{prediction.id} is {prediction.status}; it has no answer to judge.")
    label = "" if is_correct else correct_label.strip()
    if len(label) > 200:
        raise ValidationError({"correct_label": "A class name is at most 200 characters."})
    if label:
        names = prediction_class_names(prediction=prediction)
        known = _class_match(label, names)
        if known is None and not new_class:
            version = prediction.model_version
            where = f'"{version.dataset.name}" v{version.number}' if version is not None else "these versions"
            raise _not_a_class(field="correct_label", name=label, names=names, where=where)
        label = known or label
    prediction.is_correct = is_correct
    prediction.correct_label = label
    prediction.save(update_fields=["is_correct", "correct_label"])
    return prediction


def prediction_add_creates_class(*, prediction: Prediction, label_name: str) -> bool:
    """Whether adding the prediction's image under ``label_name`` would start a new class in its
    version's dataset (so the owner must ask for one)."""
    version = prediction.model_version
    if version is None:
        return False
    names = list(version.dataset.classes.values_list("name", flat=True))
    return _class_match(label_name.strip(), names) is None


def prediction_add_to_dataset(*, prediction: Prediction, label_name: str, new_class: bool = False) -> DatasetImage:
    """Add the prediction's image to its version's dataset under ``label_name``, one of the dataset's
    classes (in any case); a class it does not have is created only with ``new_class``, the owner's
    explicit choice: a one-image class made from a typo would stop the next training.

    The image goes through ``image_add`` like any upload, so a picture already in the dataset is
    refused as a duplicate. A public dataset takes images from staff only.
    """
    version = prediction.model_version
    if version is None:
        raise ValidationError(
            "This prediction has no single model version (an ensemble, or its version was deleted), "
            "so there is no dataset to add its image to."
        )
    if not prediction.image:
        raise PredictionNotReady(f"Prediction #{prediction.id} has no stored image yet.")
    dataset, owner = version.dataset, prediction.owner
    if not owner.is_staff and (dataset.is_public or dataset.owner_id != owner.pk):
        raise PermissionDenied(f'"{dataset.name}" is not your dataset: only staff can add images to it.')
    name = label_name.strip()
    if not name:
        raise ValidationError({"label": "Name the class to add the image to."})
    names = _in_reading_order(dataset.classes.values_list("name", flat=True))
    known = _class_match(name, names)
    if known is None and not new_class:
        raise _not_a_class(field="label", name=name, names=names, where=f'"{dataset.name}"')
    with default_storage.open(prediction.image.name, "rb") as stored:
        content = stored.read()
    try:
        image = image_add(
            dataset=dataset,
            content=content,
            filename=prediction.details.get("filename") or prediction.image.name.rsplit("/", 1)[-1],
            label_name=known or name,
            origin=DatasetImage.Origin.UPLOAD,
        )
    except ImageRejected as rejection:
        raise ValidationError(rejection.detail) from None
    Prediction.objects.filter(id=prediction.id).update(added_image=image)
    prediction.added_image = image
    return image
