"""Import a ZIP of images into a dataset: quick checks in the request, the work on a cpu worker.

Classes come from folder names (``sparrow/1.jpg``) or from a ``filename,label`` CSV sent beside the
archive (``services.import_labels``). The archive is read member by member through ``services.archives``,
which refuses hostile archives (zip bombs, ``../`` names) before anything is decompressed or stored.
"""

from __future__ import annotations

import uuid
import zipfile
from collections import Counter
from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from classifier.models import Dataset, DatasetImage
from classifier.services.archives import (
    archive_member_read,
    archive_refuse_bombs,
    archive_upload_check,
    stored_archive_open,
)
from classifier.services.datasets import job_dataset
from classifier.services.images import image_add, near_duplicate_row, quota_rejection
from classifier.services.imaging import ImageRejected, image_size_check
from classifier.services.import_labels import archive_members_plan, labels_csv_parse
from classifier.services.import_reports import nothing_imported, stored_by_earlier_attempts, stored_earlier
from classifier.services.quotas import QuotaExceeded, job_quota_check, storage_quota_check
from classifier.services.storage import upload_size
from classifier.services.url_imports import url_list_import_run
from training_jobs.kinds import JobResult
from training_jobs.models import Job
from training_jobs.services import JobInputError, job_create, job_enqueue
from webapp.storage import stored_files_delete
from webapp.units import human_bytes

# A filename,label row per member for the largest archive we accept is a few MB; anything far
# larger is not a labels file and is not read into the request's memory.
MAX_LABELS_BYTES = 32 * 1024 * 1024
_REPORT_REASONS = (
    "duplicate",
    "corrupt",
    "not_image",
    "too_large",
    "unlabelled",
    "unsafe_path",
    "missing",
    "over_quota",
)


def dataset_import_start(
    *,
    dataset: Dataset,
    requested_by: User,
    archive: UploadedFile[bytes],
    labels: UploadedFile[bytes] | None = None,
) -> Job:
    """Check the upload is a ZIP (and the CSV has its columns), store it, and queue the import job.

    Raises ``ValidationError({"archive": ...})`` or ``ValidationError({"labels": ...})``, and
    ``QuotaExceeded`` when the account has no room for one more image or one more job.
    """
    # Before the archive is stored: a full account's import could add nothing.
    storage_quota_check(owner_id=dataset.owner_id, adding_bytes=1)
    archive_upload_check(archive)
    if labels is not None:
        size = upload_size(labels)
        if size > MAX_LABELS_BYTES:
            message = f"The labels CSV is {human_bytes(size)}; the limit is {human_bytes(MAX_LABELS_BYTES)}."
            raise ValidationError({"labels": message})
        labels_csv_parse(b"".join(labels.chunks()))

    stem = f"imports/{uuid.uuid4().hex}"
    stored = [default_storage.save(f"{stem}.zip", archive)]
    if labels is not None:
        stored.append(default_storage.save(f"{stem}.csv", labels))
    try:
        with transaction.atomic():
            job_quota_check(user=requested_by, kind=Job.Kind.IMPORT)
            job = job_create(
                kind=Job.Kind.IMPORT,
                requested_by=requested_by,
                dataset=dataset,
                params={
                    "archive": stored[0],
                    "labels": stored[1] if labels is not None else None,
                    "archive_filename": archive.name,
                },
            )
            job_enqueue(job=job)
    except BaseException:
        stored_files_delete(names=stored)
        raise
    return job


def dataset_import_run(*, job: Job, progress: Callable[..., None]) -> JobResult:
    """Import the job's stored archive into its dataset; returns the report and a summary message.

    Raises ``JobInputError`` for an archive that is refused as a whole (zip bomb, unreadable); each
    bad member is only reported. Every image is stored in its own transaction, so a crash or cancel
    keeps what was imported and leaves no half-written image. A later attempt (after a lost worker)
    reads the archive again and counts the images its earlier attempts stored as imported, so the
    report is the same as if it had run once. The stored archive and CSV are deleted when the job
    ends (``dataset_import_cleanup``), not before: a resumed attempt needs them.

    A job whose params name a URL list (``urls``) imports that list instead (``services.url_imports``).
    """
    if job.params.get("urls"):
        return url_list_import_run(job=job, progress=progress)
    archive_name, labels_name = job.params["archive"], job.params.get("labels")
    labels = None
    if labels_name:
        with default_storage.open(labels_name, "rb") as stored_labels:
            try:
                labels = labels_csv_parse(stored_labels.read())
            except ValidationError as error:
                raise JobInputError(" ".join(error.messages)) from None
    with stored_archive_open(archive_name) as archive:
        report = _archive_import(job=job, archive=archive, labels=labels, progress=progress)
    if not report["imported"]:
        # An import that added nothing did not do what was asked: it ends failed, saying why, with the
        # per-file report kept.
        raise JobInputError(_nothing_imported(report), report=report)
    return JobResult(report=report, message=f"Imported {report['imported']} of {report['total']} files")


def _nothing_imported(report: dict[str, Any]) -> str:
    """Why an import stored no image, in one sentence."""
    if not report["total"] and not report.get("missing"):
        return "Nothing was imported: the archive holds no files."
    return nothing_imported(report, reasons=_REPORT_REASONS, noun="file", already="images are")


def dataset_import_cleanup(job: Job) -> None:
    """The import job's ``cleanup`` hook: its uploaded archive and CSV (or URL list) go however it ended."""
    names = (job.params.get("archive"), job.params.get("labels"), job.params.get("urls"))
    stored_files_delete(names=[name for name in names if name])


def _archive_import(
    *,
    job: Job,
    archive: zipfile.ZipFile,
    labels: dict[str, str] | None,
    progress: Callable[..., None],
) -> dict[str, Any]:
    infos = archive.infolist()
    archive_refuse_bombs(infos)
    members, missing = archive_members_plan(infos, labels)
    if not members:
        raise JobInputError("The archive has no files to import, only folders or system files.")

    dataset = job_dataset(job)
    # Images an earlier attempt of this job stored, by content hash.
    stored_before = stored_by_earlier_attempts(job)
    counts: Counter[str] = Counter()
    classes: Counter[str | None] = Counter()
    rejected: list[dict[str, Any]] = []
    # Imported all the same (a near-copy may be a legitimate view), each with the picture it nearly copies.
    near_duplicates: list[dict[str, Any]] = []
    total = len(members)
    for done, member in enumerate(members, start=1):
        filename = member.info.filename
        try:
            if member.rejection is not None:
                raise member.rejection
            image_size_check(size=member.info.file_size, filename=filename)
            content = archive_member_read(archive, member.info)
            if not stored_earlier(stored_before, content):
                image = image_add(
                    dataset=dataset,
                    content=content,
                    filename=filename,
                    label_name=member.label,
                    origin=DatasetImage.Origin.IMPORT,
                    job=job,
                )
                if (row := near_duplicate_row(image)) is not None:
                    near_duplicates.append(row)
        except ImageRejected as rejection:
            counts[rejection.reason] += 1
            rejected.append({"filename": filename, "reason": rejection.reason, "detail": rejection.detail})
        except QuotaExceeded as error:
            # Smaller files may still fit in the storage quota, so the rest of the archive is still tried.
            counts["over_quota"] += 1
            rejected.append(quota_rejection(filename=filename, error=error))
        except ValidationError as error:
            # The class name itself is refused (too long for a class).
            counts["unlabelled"] += 1
            rejected.append({"filename": filename, "reason": "unlabelled", "detail": " ".join(error.messages)})
        else:
            counts["imported"] += 1
            classes[member.label] += 1
        progress(done / total, f"{done} of {total} files")

    for filename in missing:
        counts["missing"] += 1
        detail = f"{filename} is in the labels CSV but not in the archive."
        rejected.append({"filename": filename, "reason": "missing", "detail": detail})
    report: dict[str, Any] = {"imported": counts["imported"], **{reason: counts[reason] for reason in _REPORT_REASONS}}
    report.update(total=total, rejected=rejected, classes=dict(classes))
    if near_duplicates:
        report.update(near_duplicate=len(near_duplicates), near_duplicates=near_duplicates)
    return report


