"""Queued predictions: the request kept as a row and run on a cpu worker (``prediction_run``, the
inference queue), sent again by the reaper when no worker ran it.

The worker's task (``classifier.tasks.run_prediction``) is sent by name, so this module and the tasks
module that calls it do not import each other.
"""

import logging
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from classifier.models import ModelVersion, Prediction
from classifier.services.predictions import (
    answer_fields,
    prediction_image_read,
    prediction_image_save,
    prediction_request_check,
    prediction_store,
)
from classifier.services.serving import VersionNotServable, version_predict
from classifier.services.url_fetch import url_image_fetch
from classifier.services.url_targets import url_check
from training_jobs.services import stale_cutoff
from webapp.storage import stored_files_delete

logger = logging.getLogger(__name__)

RUN_PREDICTION_TASK = "classifier.tasks.run_prediction"


def prediction_queue(
    *,
    owner: User,
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
    count, threshold = prediction_request_check(model_versions=[model_version], top_k=top_k, threshold=threshold)
    fields: dict[str, Any] = {
        "model_version": model_version,
        "status": Prediction.Status.QUEUED,
        "top_k": count,
        "details": {"threshold": threshold, "filename": filename},
    }
    with transaction.atomic():
        if image_bytes is not None:
            checked, _ = prediction_image_read(image_bytes=image_bytes, filename=filename, source_url="")
            prediction = prediction_store(owner=owner, checked=checked, source_url=source_url, **fields)
        elif source_url:
            prediction = Prediction.objects.create(owner=owner, source_url=url_check(url=source_url), **fields)
        else:
            raise ValidationError({"image": "Send an image file or the url of one."})
        transaction.on_commit(lambda: prediction_send(prediction_id=prediction.id))
    return prediction


def prediction_send(*, prediction_id: int) -> bool:
    """Hand a queued prediction's task to the broker; False if the broker refused it (the reaper
    sends it again)."""
    now = timezone.now()
    if not Prediction.objects.filter(id=prediction_id, status=Prediction.Status.QUEUED).update(
        sent_at=now, started_at=None
    ):
        return False
    try:
        # Its queue ("inference") comes from CELERY_TASK_ROUTES.
        # The registered task, looked up by name (an eager configuration still runs it inline).
        current_app.tasks[RUN_PREDICTION_TASK].apply_async(args=[prediction_id])
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
        image_name = prediction.image.name
        if image_name:
            with default_storage.open(image_name, "rb") as stored:
                content = stored.read()
        else:
            fetched = url_image_fetch(url=prediction.source_url)
            content = fetched.image.content
            fetched_name = prediction_image_save(owner_id=prediction.owner_id, checked=fetched.image)
        result = version_predict(version=version, image_bytes=content, top_k=prediction.top_k)
    except (ValidationError, VersionNotServable) as error:
        messages = error.messages if isinstance(error, ValidationError) else [str(error)]
        fields: dict[str, Any] = {"status": Prediction.Status.FAILED, "error": " ".join(messages)}
    except Exception as error:
        # Every prediction must end somewhere the user can see; the operator gets the traceback.
        logger.exception("Prediction %s failed.", prediction_id)
        fields = {"status": Prediction.Status.FAILED, "error": f"{type(error).__name__}: {error}"}
    else:
        fields = {"status": Prediction.Status.SUCCEEDED, **answer_fields(result)}
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
