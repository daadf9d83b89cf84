"""Add and relabel a dataset's images. Uploads and imports both store through ``image_add``.

An image is its row plus two stored files (the original and a thumbnail). Files are written before the
row and removed if the row cannot be written; deletion (``services.image_deletion``) removes the row first
and the files once that has committed, so no row ever points at a missing file. Every image stored counts
against its dataset owner's images and storage quotas (``services.quotas``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction

from classifier.models import Dataset, DatasetImage, LabelClass, LabelIssue
from classifier.services.datasets import label_class_get_or_create
from classifier.services.imaging import (
    CheckedImage,
    ImageRejected,
    image_check,
    image_size_check,
    thumbnail_bytes,
)
from classifier.services.near_duplicates import near_duplicate_match
from classifier.services.quotas import QuotaExceeded, storage_quota_check
from classifier.services.splits import split_for_new_image
from classifier.services.storage import upload_size
from training_jobs.models import Job
from webapp.storage import stored_files_delete

_UPLOAD_REASONS = ("duplicate", "corrupt", "not_image", "too_large", "over_quota")


@dataclass
class UploadResult:
    imported: list[DatasetImage] = field(default_factory=list)
    # Each {"filename", "reason", "detail"}: what the user sees for every file not stored.
    rejected: list[dict[str, Any]] = field(default_factory=list)
    # Each {"filename", "image", "near_duplicate_of", "near_duplicate_of_name", "split"}: imported files that
    # nearly copy a picture already in the dataset (stored in its split, so the pair cannot leak).
    near_duplicates: list[dict[str, Any]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        counts = {"imported": len(self.imported), **dict.fromkeys(_UPLOAD_REASONS, 0)}
        for rejection in self.rejected:
            counts[rejection["reason"]] = counts.get(rejection["reason"], 0) + 1
        if self.near_duplicates:
            # Only when there are any: an upload of distinct pictures reports what it always did.
            counts["near_duplicate"] = len(self.near_duplicates)
        return counts

    def imported_names(self) -> list[str]:
        """The imported files' names, each near-duplicate's with the picture it nearly copies."""
        notes = {row["image"]: f" (near-duplicate of {row['near_duplicate_of_name']})" for row in self.near_duplicates}
        return [image.original_name + notes.get(image.id, "") for image in self.imported]


# Set by ``image_store`` on the object it returns, not a database field (see ``near_duplicate_of``).
_NEAR_DUPLICATE_OF = "near_duplicate_of"


def near_duplicate_of(image: DatasetImage) -> DatasetImage | None:
    """The picture already in the dataset that ``image``, as ``image_store`` returned it, nearly copies.

    Only the returned object knows it: the pair is not stored, and can always be found again from the hashes.
    """
    match: DatasetImage | None = getattr(image, _NEAR_DUPLICATE_OF, None)
    return match


def near_duplicate_row(image: DatasetImage) -> dict[str, Any] | None:
    """The report row of a just-stored image that nearly copies a picture in the dataset; None if it does not."""
    match = near_duplicate_of(image)
    if match is None:
        return None
    return {
        "filename": image.original_name,
        "image": image.id,
        "near_duplicate_of": match.id,
        "near_duplicate_of_name": str(match),
        "split": image.split,
    }


def image_store(
    *,
    dataset: Dataset,
    checked: CheckedImage,
    label: LabelClass | None,
    origin: str,
    original_name: str,
    source_image: DatasetImage | None = None,
    job: Job | None = None,
) -> DatasetImage:
    """Save the file and its thumbnail, then the row, with its split (augmented copies always train).

    A picture that nearly copies one already in the dataset (perceptual hashes within
    ``SIGHTLINE_NEAR_DUPLICATE_DISTANCE``) is stored all the same, since it may be a legitimate other view,
    but in its match's split, so the pair never straddles train and test; the returned image's transient
    ``near_duplicate_of`` names that match (None otherwise, and always for augmented copies).

    An augmented copy is written only if its source is a training image at that moment: the source
    row is locked and checked in the same transaction, so a split reassignment cannot move it to
    validation or test in between (``SourceNotTraining`` otherwise). If the row cannot be written (a
    duplicate stored meanwhile, a lost database, a deleted dataset) the files are deleted again.
    Files written inside a caller's transaction that later rolls back stay behind: call this in a
    short transaction of its own, as uploads and imports do. Raises ``QuotaExceeded`` (and keeps no file)
    when the image would pass its owner's images or storage quota.
    """
    sha256 = checked.sha256
    thumbnail = thumbnail_bytes(checked.content)
    stored_bytes = len(checked.content) + len(thumbnail)
    saved: list[str] = []
    try:
        saved.append(
            default_storage.save(
                f"datasets/{dataset.id}/{sha256[:2]}/{sha256}.{checked.extension}",
                ContentFile(checked.content),
            )
        )
        saved.append(
            default_storage.save(f"datasets/{dataset.id}/thumbnails/{sha256[:2]}/{sha256}.jpg", ContentFile(thumbnail))
        )
        with transaction.atomic():
            storage_quota_check(owner_id=dataset.owner_id, adding_bytes=stored_bytes, lock=True)
            match = None
            split: str
            if origin == DatasetImage.Origin.AUGMENTED:
                _source_lock_training(source_image)
                split = DatasetImage.Split.TRAIN
            else:
                match = near_duplicate_match(dataset=dataset, hash_hex=checked.perceptual_hash)
                split = match.split if match is not None else split_for_new_image(dataset=dataset, label=label)
            image = DatasetImage.objects.create(
                dataset=dataset,
                label=label,
                file=saved[0],
                thumbnail=saved[1],
                # Keep the end of over-long names: the file name matters more than its folders.
                original_name=original_name[-300:],
                sha256=sha256,
                width=checked.width,
                height=checked.height,
                stored_bytes=stored_bytes,
                split=split,
                origin=origin,
                source_image=source_image,
                job=job,
                perceptual_hash=checked.perceptual_hash,
            )
            setattr(image, _NEAR_DUPLICATE_OF, match)
            return image
    except BaseException:
        stored_files_delete(names=saved)
        raise


class SourceNotTraining(Exception):
    """An augmented copy's source is no longer a training image (or no longer exists)."""


def _source_lock_training(source: DatasetImage | None) -> None:
    training = DatasetImage.objects.select_for_update().filter(split=DatasetImage.Split.TRAIN)
    if source is None or not list(training.filter(id=source.id).values_list("id", flat=True)):
        raise SourceNotTraining(f"{source} is no longer a training image; a copy of it would leak held-out data.")


def image_add(
    *, dataset: Dataset, content: bytes, filename: str, label_name: str | None, origin: str, job: Job | None = None
) -> DatasetImage:
    """Check one file, refuse it if the dataset already holds the same picture, and store it.

    Raises ``ImageRejected`` for a file that is not stored, ``QuotaExceeded`` for one its owner's quota
    has no room for (checked first too, so a full account's files are not decoded for nothing). The class
    is created together with its first image, so rejected files never leave empty classes behind; an
    invalid class name raises ``ValidationError`` before anything is stored.
    """
    storage_quota_check(owner_id=dataset.owner_id, adding_bytes=len(content))
    checked = image_check(content=content, filename=filename)
    _raise_if_duplicate(dataset=dataset, checked=checked, filename=filename)
    name = (label_name or "").strip()
    try:
        with transaction.atomic():
            label = label_class_get_or_create(dataset=dataset, name=name) if name else None
            return image_store(
                dataset=dataset, checked=checked, label=label, origin=origin, original_name=filename, job=job
            )
    except IntegrityError:
        # Another upload stored the same picture between our check and our insert.
        _raise_if_duplicate(dataset=dataset, checked=checked, filename=filename)
        raise


def _raise_if_duplicate(*, dataset: Dataset, checked: CheckedImage, filename: str) -> None:
    existing = (
        DatasetImage.objects.filter(dataset=dataset, sha256=checked.sha256)
        .values_list("original_name", flat=True)
        .first()
    )
    if existing is not None:
        raise ImageRejected(
            "duplicate", f"{filename} is the same picture as {existing or 'an image'} already in the dataset."
        )


def images_upload(*, dataset: Dataset, files: list[UploadedFile[bytes]], label_name: str | None) -> UploadResult:
    """Store each uploaded file that is a new, valid image; report the others with their reason.

    Each image is stored in its own transaction, so one bad file never costs the user the rest. Files past
    the account's quota are reported as "over_quota"; when that stored nothing at all, the request is
    refused with the ``QuotaExceeded`` itself.
    """
    result = UploadResult()
    refusal: QuotaExceeded | None = None
    for upload in files:
        filename = upload.name or "unnamed file"
        try:
            # Refused on its size before its bytes are read into memory.
            image_size_check(size=upload_size(upload), filename=filename)
            content = b"".join(upload.chunks())
            image = image_add(
                dataset=dataset,
                content=content,
                filename=filename,
                label_name=label_name,
                origin=DatasetImage.Origin.UPLOAD,
            )
        except ImageRejected as rejection:
            result.rejected.append({"filename": filename, "reason": rejection.reason, "detail": rejection.detail})
        except QuotaExceeded as error:
            refusal = error
            result.rejected.append(quota_rejection(filename=filename, error=error))
        else:
            result.imported.append(image)
            if (row := near_duplicate_row(image)) is not None:
                result.near_duplicates.append(row)
    if refusal is not None and not result.imported and all(row["reason"] == "over_quota" for row in result.rejected):
        raise refusal
    return result


def quota_rejection(*, filename: str, error: QuotaExceeded) -> dict[str, Any]:
    """The report row of a file its account's quota had no room for."""
    return {"filename": filename, "reason": "over_quota", "detail": f"{filename} was not stored. {error.message}"}


@transaction.atomic
def image_relabel(*, image: DatasetImage, label_name: str | None) -> DatasetImage:
    """Give the image another class (created if new); ``None`` or blank makes it unlabelled.

    Its split stays put. Its augmented copies show the same picture, so they follow its class.
    """
    name = (label_name or "").strip()
    label = label_class_get_or_create(dataset=image.dataset, name=name) if name else None
    image.label = label
    image.save(update_fields=["label"])
    DatasetImage.objects.filter(source_image=image).update(label=label)
    # The open label issue asked about the old label: answered now (services.label_issues). A kept one
    # stays only while the image keeps the label it was kept with; a later search may ask about the new one.
    LabelIssue.objects.filter(image=image).exclude(status=LabelIssue.Status.KEPT, given_label=label).delete()
    return image
