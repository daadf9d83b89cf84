"""Import a list of image URLs (a CSV of ``url,label``, optional ``filename``) into a dataset: the list
is checked in the request, the fetching and storing happen on a cpu worker as an import job.

Every URL is fetched through the SSRF-safe fetcher predictions use (``url_fetch``), several at once and
politely per host (``url_fetch_pool``), and stored through ``image_add`` like an upload, so the same
image checks, duplicate checks and quotas apply. The report lists every URL not imported with why.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from classifier.models import Dataset, DatasetImage, LabelClass
from classifier.services.csv_tables import CsvUnreadable, csv_table_read
from classifier.services.datasets import job_dataset
from classifier.services.images import image_add, near_duplicate_row
from classifier.services.imaging import ImageRejected
from classifier.services.import_reports import nothing_imported, stored_by_earlier_attempts, stored_earlier
from classifier.services.quotas import QuotaExceeded, job_quota_check, storage_quota_check
from classifier.services.storage import upload_size
from classifier.services.url_fetch_pool import UrlFetched, urls_fetch
from classifier.services.url_targets import UrlRefused, url_check
from training_jobs.kinds import JobResult
from training_jobs.models import Job
from training_jobs.services import JobInputError, job_create, job_enqueue
from webapp.storage import stored_files_delete
from webapp.units import human_bytes

# 10,000 rows of long URLs, labels and file names fit well within this; a larger file is not a URL list.
MAX_URL_LIST_BYTES = 16 * 1024 * 1024
_REQUIRED_COLUMNS = ("url", "label")
# Every reason a URL is not imported, in the order the report counts them.
URL_REPORT_REASONS = (
    "duplicate",
    "refused",
    "timeout",
    "too_large",
    "not_image",
    "corrupt",
    "http_error",
    "unreachable",
    "unlabelled",
    "bad_row",
    "over_quota",
)


@dataclass(frozen=True)
class _Row:
    line: int
    url: str
    label: str
    filename: str


def url_list_import_start(*, dataset: Dataset, requested_by: User, urls: UploadedFile[bytes]) -> Job:
    """Check the URL list (its columns, its size, its row count), store it, and queue the import job.

    Raises ``ValidationError({"urls": ...})`` naming what is wrong with the list, and ``QuotaExceeded``
    when the account has no room for one more image or one more job; either way nothing is stored.
    """
    storage_quota_check(owner_id=dataset.owner_id, adding_bytes=1)
    size = upload_size(urls)
    if size > MAX_URL_LIST_BYTES:
        message = f"The URL list is {human_bytes(size)}; the limit is {human_bytes(MAX_URL_LIST_BYTES)}."
        raise ValidationError({"urls": message})
    raw = b"".join(urls.chunks())
    _url_list_parse(raw)
    stored = default_storage.save(f"imports/{uuid.uuid4().hex}.csv", ContentFile(raw))
    try:
        with transaction.atomic():
            job_quota_check(user=requested_by, kind=Job.Kind.IMPORT)
            job = job_create(
                kind=Job.Kind.IMPORT,
                requested_by=requested_by,
                dataset=dataset,
                params={"urls": stored, "urls_filename": urls.name},
            )
            job_enqueue(job=job)
    except BaseException:
        stored_files_delete(names=[stored])
        raise
    return job


def _url_list_parse(raw: bytes) -> list[_Row]:
    """The list's rows; raises ``ValidationError({"urls": ...})`` for a list that cannot be imported at all."""
    try:
        table = csv_table_read(raw, what="The URL list")
    except CsvUnreadable as error:
        raise ValidationError({"urls": str(error)}) from None
    if not table.columns:
        raise ValidationError({"urls": "The URL list is empty; it needs a header line (url,label), then a URL a line."})
    missing = [column for column in _REQUIRED_COLUMNS if column not in table.columns]
    if missing:
        found = ", ".join(column for column in table.columns if column) or "none"
        message = (
            f"The URL list needs the columns url and label (filename is optional); "
            f"missing: {', '.join(missing)} (found: {found})."
        )
        raise ValidationError({"urls": message})
    if not table.rows:
        raise ValidationError({"urls": "The URL list has a header line but no URLs."})
    limit = settings.SIGHTLINE_URL_IMPORT_MAX_ROWS
    if len(table.rows) > limit:
        message = f"The URL list has {len(table.rows):,} rows; the limit is {limit:,}. Split it into several imports."
        raise ValidationError({"urls": message})
    columns = zip(table.cells("url"), table.cells("label"), table.cells("filename"), strict=True)
    return [
        _Row(line=table.line(index), url=url.strip(), label=label.strip(), filename=filename.strip())
        for index, (url, label, filename) in enumerate(columns)
    ]


def url_list_import_run(*, job: Job, progress: Callable[..., None]) -> JobResult:
    """Fetch and store every URL of the job's list; returns the report and a summary message.

    Each image is stored in its own transaction, so a crash or cancel keeps what was imported. A later
    attempt (after a lost worker) fetches the list again and counts the images its earlier attempts
    stored as imported, so the report is the same as if it had run once. An import that stored
    nothing ends failed, saying why, with its report kept.
    """
    with default_storage.open(job.params["urls"], "rb") as stored:
        raw = stored.read()
    try:
        rows = _url_list_parse(raw)
    except ValidationError as error:
        raise JobInputError(" ".join(error.messages)) from None
    report = _url_list_import(job=job, rows=rows, progress=progress)
    if not report["imported"]:
        raise JobInputError(_nothing_imported(report), report=report)
    return JobResult(report=report, message=f"Imported {report['imported']} of {report['total']} URLs")


def _nothing_imported(report: dict[str, Any]) -> str:
    return nothing_imported(report, reasons=URL_REPORT_REASONS, noun="URL", already="URLs are images")


def _row_problem(row: _Row, first_line_of: dict[str, int]) -> ImageRejected | None:
    """Why a row is not even fetched (no URL, a URL that is never fetched, no class), or None."""
    if not row.url:
        return ImageRejected("bad_row", f"Line {row.line} has no URL.")
    try:
        url_check(url=row.url)
    except UrlRefused as error:
        return ImageRejected("refused", f"Line {row.line}: {error.detail}")
    if not row.label:
        return ImageRejected("unlabelled", f"Line {row.line} has no label.")
    longest = LabelClass._meta.get_field("name").max_length
    if longest is not None and len(row.label) > longest:
        return ImageRejected("bad_row", f"Line {row.line}: a class name can be at most {longest} characters.")
    if row.url in first_line_of:
        return ImageRejected("duplicate", f"Line {row.line} repeats the URL of line {first_line_of[row.url]}.")
    first_line_of[row.url] = row.line
    return None


def _url_list_import(*, job: Job, rows: list[_Row], progress: Callable[..., None]) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    classes: Counter[str] = Counter()
    rejected: list[dict[str, Any]] = []
    near_duplicates: list[dict[str, Any]] = []

    def reject(row: _Row, reason: str, detail: str, **extra: Any) -> None:
        counts[reason] += 1
        rejected.append(
            {"line": row.line, "filename": row.filename or row.url, "url": row.url, "reason": reason, "detail": detail}
            | extra
        )

    first_line_of: dict[str, int] = {}
    to_fetch: list[_Row] = []
    for row in rows:
        problem = _row_problem(row, first_line_of)
        if problem is None:
            to_fetch.append(row)
        else:
            reject(row, problem.reason, problem.detail)

    # Images an earlier attempt of this job stored, by content hash.
    stored_before = stored_by_earlier_attempts(job)
    total = len(rows)
    done = total - len(to_fetch)
    for outcome in urls_fetch([row.url for row in to_fetch]):
        row = to_fetch[outcome.index]
        if outcome.error is not None:
            error = outcome.error
            reject(row, error.reason, error.detail, **({"status": error.status} if error.status else {}))
        else:
            imported, image = _store(job=job, row=row, outcome=outcome, stored_before=stored_before, reject=reject)
            if imported:
                counts["imported"] += 1
                classes[row.label] += 1
                if image is not None and (near_duplicate := near_duplicate_row(image)) is not None:
                    near_duplicates.append({"line": row.line, "url": row.url} | near_duplicate)
        done += 1
        progress(done / total, f"{done} of {total} URLs")

    rejected.sort(key=lambda entry: entry["line"])
    report: dict[str, Any] = {"imported": counts["imported"]}
    report.update({reason: counts[reason] for reason in URL_REPORT_REASONS})
    report.update(total=total, rejected=rejected, classes=dict(classes), near_duplicates=near_duplicates)
    return report


def _store(
    *, job: Job, row: _Row, outcome: UrlFetched, stored_before: set[str], reject: Callable[..., None]
) -> tuple[bool, DatasetImage | None]:
    """Store one fetched image: ``(True, image)``, ``(True, None)`` when an earlier attempt stored it, or
    ``(False, None)`` when it was rejected (and reported)."""
    fetched = outcome.fetched
    assert fetched is not None
    if stored_earlier(stored_before, fetched.content):
        return True, None
    filename = row.filename or fetched.filename
    try:
        image = image_add(
            dataset=job_dataset(job),
            content=fetched.content,
            filename=filename,
            label_name=row.label,
            origin=DatasetImage.Origin.IMPORT,
            job=job,
        )
    except ImageRejected as rejection:
        reject(row, rejection.reason, f"{row.url}: {rejection.detail}")
    except QuotaExceeded as error:
        # Smaller images may still fit in the storage quota, so the rest of the list is still tried.
        reject(row, "over_quota", f"{row.url} was not stored. {error.message}")
    except ValidationError as error:
        reject(row, "bad_row", f"Line {row.line}: {' '.join(error.messages)}")
    else:
        return True, image
    return False, None
