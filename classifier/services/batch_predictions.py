"""Batch predictions: a ZIP of images predicted by one version on an inference worker, into a CSV the job links.

The archive is checked in the request (a readable ZIP under the size limit), stored, and read on the
worker member by member through ``services.archives``, which refuses zip bombs before anything is
decompressed. Images pass the checks uploads do (``image_check_pixels``, decoding each once) and go
through the version's TFLite model in chunks, on every core the interpreter may use.
"""

import csv
import dataclasses
import io
import queue
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from zipfile import ZipFile, ZipInfo

import numpy as np
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils.text import slugify

from classifier.ml.predictor import cpu_thread_cap
from classifier.models import ModelVersion
from classifier.services.archives import (
    archive_member_read,
    archive_refuse_bombs,
    archive_upload_check,
    member_is_system_file,
    member_is_unsafe,
    stored_archive_open,
)
from classifier.services.imaging import ImageRejected, image_check_pixels, image_size_check
from classifier.services.quotas import job_quota_check
from classifier.services.serving import (
    ServingModel,
    VersionNotServable,
    version_check_servable,
    version_serving,
)
from training_jobs.kinds import JobResult
from training_jobs.models import Job
from training_jobs.services import JobInputError, job_create, job_enqueue
from webapp.storage import stored_files_delete, stored_folder_delete

# Files per task (read, decode, predict) and per progress report. Small: the interpreter runs one image
# at a time whatever the chunk, and small chunks let the cores finish together (a big last chunk leaves
# the other cores idle while it runs); a hand-over between threads costs far less than one image.
BATCH_SIZE = 8
CSV_COLUMNS = ("filename", "label", "probability", "is_unknown", "error")


def batch_prediction_start(*, owner: User, model_version: ModelVersion, archive: UploadedFile[bytes]) -> Job:
    """Check the version can serve and the upload is a ZIP, store it, and queue the job on the inference queue."""
    version_check_servable(version=model_version)
    archive_upload_check(archive)
    stored = default_storage.save(f"batch-predictions/{uuid.uuid4().hex}.zip", archive)
    try:
        with transaction.atomic():
            job_quota_check(user=owner, kind=Job.Kind.BATCH_PREDICT)
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


def batch_cores() -> int:
    """Cores one batch job spreads over: all the worker has, up to the cap one interpreter gets (an
    inference worker runs a few jobs at once, but a lone job, the common case, should leave no core idle).
    Not SIGHTLINE_INTERPRETER_THREADS: that sizes the web tier's interpreters, and a shared .env would
    hand the web tier's 1 to the workers too."""
    return cpu_thread_cap()


def _archive_predict(*, archive: ZipFile, serving: ServingModel, progress: Callable[..., None]) -> list[dict[str, str]]:
    infos = archive.infolist()
    archive_refuse_bombs(infos)
    # An unsafe name such as ``../a.png`` would pass for a hidden file: it is checked first, so it gets its
    # row with the reason, as imports report it.
    members = [
        info
        for info in infos
        if not info.is_dir() and (member_is_unsafe(info.filename) or not member_is_system_file(info.filename))
    ]
    if not members:
        raise JobInputError("The archive has no files to predict, only folders or system files.")
    rows = [dict.fromkeys(CSV_COLUMNS, "") | {"filename": info.filename} for info in members]
    chunks = [
        list(zip(rows[start : start + BATCH_SIZE], members[start : start + BATCH_SIZE], strict=True))
        for start in range(0, len(members), BATCH_SIZE)
    ]
    workers = min(batch_cores(), len(chunks))
    replicas = _replicas(serving, count=workers)
    # Each chunk is one task: read its members, decode them, predict them on a free interpreter. With
    # one task per core the cores are never idle: one decodes while another infers, and Pillow, zlib
    # and LiteRT all release the GIL. Rows are filled in place, so the CSV keeps the archive's order.
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="batch-predict")
    try:
        reading = threading.Lock()
        futures = [executor.submit(_chunk_predict, archive, reading, chunk, replicas) for chunk in chunks]
        done = 0
        for future, chunk in zip(futures, chunks, strict=True):
            future.result()
            done += len(chunk)
            # Raises JobCancelled once the job was cancelled: the chunks not started are dropped below.
            progress(done / len(members), f"{done} of {len(members)} files")
    finally:
        # The archive closes when this returns, so wait for the chunks already running.
        executor.shutdown(wait=True, cancel_futures=True)
    return rows


def _replicas(serving: ServingModel, *, count: int) -> queue.SimpleQueue[ServingModel]:
    """``count`` servings of the version's model to take and give back, each with its own one-thread
    interpreter: one interpreter per core gets more through a batch than one multi-threaded interpreter
    (docs/batch-predictions.md). On one core the cached interpreter serves."""
    free: queue.SimpleQueue[ServingModel] = queue.SimpleQueue()
    if count == 1:
        free.put(serving)
        return free
    for _ in range(count):
        free.put(dataclasses.replace(serving, predictor=serving.predictor.replica(num_threads=1)))
    return free


def _chunk_predict(
    archive: ZipFile,
    reading: threading.Lock,
    chunk: list[tuple[dict[str, str], ZipInfo]],
    replicas: queue.SimpleQueue[ServingModel],
) -> None:
    serving = replicas.get()
    try:
        waiting: list[tuple[dict[str, str], np.ndarray]] = []
        for row, info in chunk:
            try:
                if member_is_unsafe(info.filename):
                    raise ImageRejected("unsafe_path", f"{info.filename} has an unsafe path and was skipped.")
                image_size_check(size=info.file_size, filename=info.filename)
                # One reader at a time: ZipFile counts its open members without a lock. Reading is the
                # cheap part (photos barely compress); decoding, outside the lock, is what runs in parallel.
                with reading:
                    content = archive_member_read(archive, info)
                pixels = image_check_pixels(
                    content=content,
                    filename=info.filename,
                    size=serving.predictor.input_size,
                    resize=serving.resize,
                )
                waiting.append((row, pixels))
            except ImageRejected as rejection:
                row["error"] = rejection.detail
        if waiting:
            _batch_predict(serving, waiting)
    finally:
        replicas.put(serving)


def _batch_predict(serving: ServingModel, waiting: list[tuple[dict[str, str], np.ndarray]]) -> None:
    probabilities, _scores, unknown = serving.answer(np.stack([pixels for _row, pixels in waiting]))
    for (row, _pixels), row_probabilities, row_unknown in zip(waiting, probabilities, unknown, strict=True):
        best = int(np.argmax(row_probabilities))
        row.update(
            label=serving.class_names[best],
            probability=f"{float(row_probabilities[best]):.6f}",
            is_unknown="true" if row_unknown else "false",
        )
