"""Near-duplicate pictures in a dataset: their perceptual hashes, the stored image a new one nearly copies,
and the one-click fix that moves each near-duplicate group into one split.

A near-duplicate group straddling train and validation/test is a leak: the model is tested on pictures it
trained on (resized, recompressed or slightly cropped), and its test accuracy is inflated. New images join
their match's split (``services.images.image_store``), reassignment keeps groups whole
(``services.splits``), and ``near_duplicates_fix`` repairs groups that leak already. Augmented copies are
left out of groups: they follow their own rule (always train, deleted when their source leaves train).
"""

import io
import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from PIL import Image, UnidentifiedImageError

from classifier.ml.near_duplicates import NO_STRUCTURE, UNREADABLE, nearest, perceptual_hash
from classifier.models import Dataset, DatasetImage
from classifier.selectors_near_duplicates import (
    NearDuplicateGroup,
    hashed_originals,
    near_duplicate_groups,
    near_duplicate_summary,
)
from classifier.services.image_deletion import images_delete
from classifier.services.storage import stored_file_name

logger = logging.getLogger(__name__)
# Rows hashed per database write while filling older images' hashes.
_FILL_BATCH = 200


def near_duplicate_match(*, dataset: Dataset, hash_hex: str) -> DatasetImage | None:
    """The dataset's original image closest to a picture of this perceptual hash within the threshold
    (``SIGHTLINE_NEAR_DUPLICATE_DISTANCE``), or None. Images not hashed yet are not compared."""
    if not hash_hex or hash_hex == NO_STRUCTURE:
        return None
    rows = list(hashed_originals(dataset=dataset).values_list("id", "perceptual_hash"))
    index = nearest([value for _, value in rows], hash_hex, settings.SIGHTLINE_NEAR_DUPLICATE_DISTANCE)
    # A match deleted meanwhile is simply no match.
    return None if index is None else DatasetImage.objects.filter(id=rows[index][0]).first()


def near_duplicate_check(
    *, dataset: Dataset, leaks_only: bool = False
) -> tuple[list[NearDuplicateGroup], dict[str, Any]]:
    """The dataset check the page and the API show: a bounded batch of older images hashed first, then the
    groups (only the leaking ones if asked) and the summary over all of them."""
    perceptual_hashes_fill(dataset=dataset, limit=settings.SIGHTLINE_NEAR_DUPLICATE_FILL_PER_REQUEST)
    groups = near_duplicate_groups(dataset=dataset)
    summary = near_duplicate_summary(dataset=dataset, groups=groups)
    return ([group for group in groups if group.leaks] if leaks_only else groups), summary


def perceptual_hashes_fill(*, dataset: Dataset, limit: int | None = None, retry_unreadable: bool = False) -> int:
    """Hash the dataset's original images stored before hashes were computed at upload (at most ``limit``
    of them; None: all); returns how many.

    Each file is read and decoded once. A file that is gone or is not a readable picture is logged and
    marked ``UNREADABLE``, so later checks move on to the rest instead of reading it again (and
    ``retry_unreadable`` tries those again). Storage failing (a connection error, an outage) stops the
    fill and leaves the rest for the next check: an outage must not mark good files unreadable.
    """
    filled = 0
    waiting = [""] + ([UNREADABLE] if retry_unreadable else [])
    pending = (
        DatasetImage.objects.filter(dataset=dataset, perceptual_hash__in=waiting)
        .exclude(origin=DatasetImage.Origin.AUGMENTED)
        .order_by("id")
    )
    last_id, remaining = 0, limit
    while remaining is None or remaining > 0:
        size = _FILL_BATCH if remaining is None else min(_FILL_BATCH, remaining)
        batch = list(pending.filter(id__gt=last_id)[:size])
        if not batch:
            break
        last_id = batch[-1].id
        remaining = None if remaining is None else remaining - len(batch)
        done, storage_failed = [], False
        for image in batch:
            try:
                with default_storage.open(stored_file_name(image.file), "rb") as stored:
                    content = stored.read()
                with Image.open(io.BytesIO(content)) as picture:
                    image.perceptual_hash = perceptual_hash(picture)
            except (FileNotFoundError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as error:
                logger.warning("Image %s could not be hashed, marked unreadable: %s", image.id, error)
                image.perceptual_hash = UNREADABLE
            except Exception as error:  # noqa: BLE001 - storage itself failing: stop, keep what was done
                logger.warning("Storage failed while hashing image %s; the rest waits: %s", image.id, error)
                storage_failed = True
                break
            done.append(image)
        DatasetImage.objects.bulk_update(done, ["perceptual_hash"])
        filled += sum(image.perceptual_hash != UNREADABLE for image in done)
        if storage_failed:
            break
    return filled


def near_duplicates_fix(*, dataset: Dataset, image_id: int | None = None) -> dict[str, Any]:
    """Move the rest of every leaking group (or only of the group holding ``image_id``) into the split of
    its first member (the oldest image), in one transaction; augmented copies whose source leaves train
    are deleted, as a split reassignment does.

    Returns ``{"groups": fixed, "moved": [{"image", "original_name", "from", "to"}], "augmented_deleted"}``.
    Raises ``ValidationError({"image": ...})`` when ``image_id`` is not an original image of the dataset in
    a near-duplicate group (nothing changes then).
    """
    # Bounded, and before the transaction: a dataset of older images is hashed a batch per fix, not in one
    # request holding the dataset's lock (manage.py near_duplicates_hash does all at once).
    perceptual_hashes_fill(dataset=dataset, limit=settings.SIGHTLINE_NEAR_DUPLICATE_FILL_PER_REQUEST)
    with transaction.atomic():
        # Lock the dataset row: a split reassignment running meanwhile would undo half of the fix.
        Dataset.objects.select_for_update().filter(id=dataset.id).first()
        groups = near_duplicate_groups(dataset=dataset)
        if image_id is not None:
            groups = [group for group in groups if any(member.id == image_id for member in group.members)]
            if not groups:
                raise ValidationError({"image": f"Image {image_id} is not in a near-duplicate group of this dataset."})
        leaking = [group for group in groups if group.leaks]
        moved = []
        for group in leaking:
            moved += _group_into_one_split(group)
        moved_ids = [row["image"] for row in moved]
        copies = DatasetImage.objects.filter(
            dataset=dataset, origin=DatasetImage.Origin.AUGMENTED, source_image_id__in=moved_ids
        ).exclude(source_image__split=DatasetImage.Split.TRAIN)
        deleted = images_delete(images=copies)
    return {"groups": len(leaking), "moved": moved, "augmented_deleted": deleted}


def _group_into_one_split(group: NearDuplicateGroup) -> list[dict[str, Any]]:
    target = group.members[0].split
    strays = [member for member in group.members[1:] if member.split != target]
    DatasetImage.objects.filter(id__in=[member.id for member in strays]).update(split=target)
    return [
        {"image": member.id, "original_name": member.original_name, "from": member.split, "to": target}
        for member in strays
    ]
