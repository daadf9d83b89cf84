"""Batch predictions: a ZIP of images predicted by one version on a gpu worker, into a CSV the job links.

The archive is checked in the request (a readable ZIP under the size limit), stored, and read on the
worker member by member through ``services.archives``, which refuses zip bombs before anything is
decompressed. Images go through ``image_check`` like uploads and through the version's TFLite model
in batches.
"""

import csv
import io
import uuid
from collections import Counter
from collections.abc import Callable
from zipfile import ZipFile

import numpy as np
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils.text import slugify

from classifier.models import ModelVersion
from classifier.services.archives import (
    archive_member_read,
    archive_refuse_bombs,
    archive_upload_check,
    member_is_system_file,
    member_is_unsafe,
    stored_archive_open,
)
from classifier.services.imaging import ImageRejected, image_check, image_size_check
from classifier.services.serving import (
    ServingModel,
    VersionNotServable,
    image_pixels,
    version_check_servable,
    version_serving,
)
from training_jobs.kinds import JobResult
from training_jobs.models import Job
from training_jobs.services import JobInputError, job_create, job_enqueue
from webapp.storage import stored_files_delete, stored_folder_delete

# Files per interpreter call: big enough to amortise the call, small enough that one batch's decoded
# pixels stay a few megabytes.
BATCH_SIZE = 32
CSV_COLUMNS = ("filename", "label", "probability", "is_unknown", "error")


def batch_prediction_start(*, owner: AbstractBaseUser, model_version: ModelVersion, archive: UploadedFile) -> Job:
    """Check the version can serve and the upload is a ZIP, store it, and queue the job on the gpu queue."""
    version_check_servable(version=model_version)
    archive_upload_check(archive)
    stored = default_storage.save(f"batch-predictions/{uuid.uuid4().hex}.zip", archive)
    try:
        with transaction.atomic():
            job = job_create(
                kind=Job.Kind.BATCH_PREDICT,
                requested_by=owner,
                dataset=model_version.dataset,
                model_version=model_version,
                params={"archive": stored, "archive_filename": archive.name, "model_version": model_version.id},
            )
            job_enqueue(job=job)
    except BaseException:
        stored_files_delete(names=[stored])
        raise
    return job


def batch_prediction_run(*, job: Job, progress: Callable[..., None]) -> JobResult:
    """Predict every image of the job's archive; the CSV becomes the job's ``result_file``.

    One row per file in archive order: ``filename,label,probability,is_unknown,error``, where a file
    that is not a readable image has only its error. An attempt after a lost worker starts over and
    replaces what an earlier one wrote, so no row is ever there twice; the CSV is linked to the job
    only in the transaction that marks it succeeded. The stored archive goes when the job ends.
    """
    version = job.model_version
    if version is None:
        raise JobInputError("The model version was deleted before the batch ran.")
    try:
        serving = version_serving(version=version)
    except VersionNotServable as error:
        raise JobInputError(str(error)) from None
    with stored_archive_open(job.params["archive"]) as archive:
        rows = _archive_predict(archive=archive, serving=serving, progress=progress)

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    download_name = f"{slugify(version.dataset.name) or 'dataset'}-v{version.number}-predictions.csv"
    stored_folder_delete(folder=batch_prediction_folder(job.id))
    result = default_storage.save(
        f"{batch_prediction_folder(job.id)}/{download_name}", ContentFile(buffer.getvalue().encode("utf-8"))
    )

    predicted = [row for row in rows if not row["error"]]
    report = {
        "total": len(rows),
        "predicted": len(predicted),
        "unknown": sum(row["is_unknown"] == "true" for row in predicted),
        "failed": len(rows) - len(predicted),
        "classes": dict(Counter(row["label"] for row in predicted)),
        "rejected": [{"filename": row["filename"], "detail": row["error"]} for row in rows if row["error"]],
    }
    return JobResult(
        report=report,
        message=f"Predicted {len(predicted)} of {len(rows)} files",
        finish=lambda finished: Job.objects.filter(id=finished.id).update(result_file=result),
    )


def batch_prediction_folder(job_id: int) -> str:
    return f"batch-predictions/{job_id}"


def batch_prediction_cleanup(job: Job) -> None:
    """The batch job's ``cleanup`` hook: the uploaded archive goes however it ended; the CSV stays
    only with a job that succeeded (it goes with the job when that is deleted)."""
    stored_files_delete(names=[job.params["archive"]] if job.params.get("archive") else [])
    if job.status != Job.Status.SUCCEEDED:
        stored_folder_delete(folder=batch_prediction_folder(job.id))


def _archive_predict(*, archive: ZipFile, serving: ServingModel, progress: Callable[..., None]) -> list[dict]:
    infos = archive.infolist()
    archive_refuse_bombs(infos)
    members = [info for info in infos if not info.is_dir() and not member_is_system_file(info.filename)]
    if not members:
        raise JobInputError("The archive has no files to predict, only folders or system files.")
    rows: list[dict] = []
    waiting: list[tuple[dict, np.ndarray]] = []
    for done, info in enumerate(members, start=1):
        row = dict.fromkeys(CSV_COLUMNS, "") | {"filename": info.filename}
        rows.append(row)
        try:
            if member_is_unsafe(info.filename):
                raise ImageRejected("unsafe_path", f"{info.filename} has an unsafe path and was skipped.")
            image_size_check(size=info.file_size, filename=info.filename)
            checked = image_check(content=archive_member_read(archive, info), filename=info.filename)
            pixels = image_pixels(
                image_bytes=checked.content, size=serving.predictor.input_size, resize=serving.resize
            )
            waiting.append((row, pixels))
        except ImageRejected as rejection:
            row["error"] = rejection.detail
        except ValidationError as error:
            row["error"] = f"{info.filename}: {' '.join(error.messages)}"
        if done % BATCH_SIZE == 0 or done == len(members):
            if waiting:
                _batch_predict(serving, waiting)
                waiting = []
            progress(done / len(members), f"{done} of {len(members)} files")
    return rows


def _batch_predict(serving: ServingModel, waiting: list[tuple[dict, np.ndarray]]) -> None:
    probabilities, _scores, unknown = serving.answer(np.stack([pixels for _row, pixels in waiting]))
    for (row, _pixels), row_probabilities, row_unknown in zip(waiting, probabilities, unknown, strict=True):
        best = int(np.argmax(row_probabilities))
        row.update(
            label=serving.class_names[best],
            probability=f"{float(row_probabilities[best]):.6f}",
            is_unknown="true" if row_unknown else "false",
        )
