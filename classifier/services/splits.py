"""Assign images to train/val/test, stratified per class and reproducible from the dataset's seed.

New images are placed one at a time so each class tracks its target fractions and nothing already
placed moves (a model's held-out images stay held out). ``dataset_splits_reassign`` recomputes every
split from the seed when the user asks for it, keeping each near-duplicate group in one split.
"""

import hashlib
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count

from classifier.models import Dataset, DatasetImage, LabelClass
from classifier.selectors_near_duplicates import near_duplicate_id_groups
from classifier.services.datasets import split_fractions_check
from classifier.services.image_deletion import images_delete
from classifier.services.near_duplicates import perceptual_hashes_fill

Split = DatasetImage.Split
# Ties go to the first split listed, so the first images of a class train.
_SPLIT_ORDER = (Split.TRAIN, Split.VAL, Split.TEST)
# Ids per UPDATE/DELETE: stays under every database's limit on query parameters.
_CHUNK = 500


def _targets(val_fraction: float, test_fraction: float) -> dict[str, float]:
    return {Split.TRAIN: 1 - val_fraction - test_fraction, Split.VAL: val_fraction, Split.TEST: test_fraction}


def split_for_new_image(*, dataset: Dataset, label: LabelClass | None) -> str:
    """The split furthest below its target share of this class once the new image is counted.

    Deterministic: the same class counts always give the same answer. Augmented copies are not
    counted; they always train and follow their source.
    """
    counts = dict(
        DatasetImage.objects.filter(dataset=dataset, label=label)
        .exclude(origin=DatasetImage.Origin.AUGMENTED)
        .values_list("split")
        .annotate(n=Count("id"))
    )
    total_after = sum(counts.values()) + 1
    targets = _targets(dataset.val_fraction, dataset.test_fraction)
    return max(_SPLIT_ORDER, key=lambda split: targets[split] * total_after - counts.get(split, 0))


def _split_counts(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    """How many of a class's ``n`` images go to val and test: rounded half up (Python's ``round``
    would send a 5-image class's 0.5 to zero), leaving at least one image to train on."""
    val = int(n * val_fraction + 0.5)
    test = int(n * test_fraction + 0.5)
    while n and val + test >= n:
        if test >= val and test:
            test -= 1
        else:
            val -= 1
    return val, test


def _seeded_order(seed: int, sha256: str) -> str:
    # Keyed by content, not by id or upload order, so the same images and seed give the same splits
    # in any copy of the dataset.
    return hashlib.sha256(f"{seed}:{sha256}".encode()).hexdigest()


def dataset_splits_reassign(
    *,
    dataset: Dataset,
    seed: int | None = None,
    val_fraction: float | None = None,
    test_fraction: float | None = None,
) -> dict[str, Any]:
    """Recompute every split (``_reassign``), after hashing a bounded batch of older images that have no
    perceptual hash yet, outside the transaction: a request never reads thousands of files while holding
    the dataset's lock. Images still unhashed are placed as if they had no near-duplicate."""
    perceptual_hashes_fill(dataset=dataset, limit=settings.SIGHTLINE_NEAR_DUPLICATE_FILL_PER_REQUEST)
    return _reassign(dataset=dataset, seed=seed, val_fraction=val_fraction, test_fraction=test_fraction)


@transaction.atomic
def _reassign(
    *,
    dataset: Dataset,
    seed: int | None,
    val_fraction: float | None,
    test_fraction: float | None,
) -> dict[str, Any]:
    """Recompute every original image's split per class from the seed and fractions (saved on the
    dataset when given).

    Augmented copies always train, and a copy whose source now sits in val or test is deleted:
    anything derived from a held-out image would leak it into training. A near-duplicate group
    (``selectors_near_duplicates``) is placed as one unit, in the class and seeded order of its first
    member, into the first split it fits in without passing that split's count (else train), so no group
    straddles splits. Returns the image count per split and how many augmented copies were deleted.
    """
    # Lock the dataset row so two reassignments cannot interleave their updates.
    dataset = Dataset.objects.select_for_update().get(id=dataset.id)
    if seed is not None:
        dataset.split_seed = seed
    if val_fraction is not None:
        dataset.val_fraction = val_fraction
    if test_fraction is not None:
        dataset.test_fraction = test_fraction
    split_fractions_check(dataset.val_fraction, dataset.test_fraction)
    dataset.save(update_fields=["split_seed", "val_fraction", "test_fraction", "updated_at"])

    originals = DatasetImage.objects.filter(dataset=dataset).exclude(origin=DatasetImage.Origin.AUGMENTED)
    rows = {
        image_id: (label_id, sha256) for image_id, label_id, sha256 in originals.values_list("id", "label_id", "sha256")
    }
    # Members stored after ``rows`` was read wait for the next reassignment, like any new image.
    grouped = [ids for group in near_duplicate_id_groups(dataset=dataset) if (ids := [i for i in group if i in rows])]
    in_groups = {image_id for ids in grouped for image_id in ids}
    units = [[image_id] for image_id in rows if image_id not in in_groups] + grouped
    by_class: dict[int | None, list[tuple[str, list[int]]]] = defaultdict(list)
    for ids in units:
        first = min(ids, key=lambda image_id: _seeded_order(dataset.split_seed, rows[image_id][1]))
        by_class[rows[first][0]].append((_seeded_order(dataset.split_seed, rows[first][1]), ids))

    ids_by_split: dict[Split, list[int]] = {split: [] for split in _SPLIT_ORDER}
    for class_units in by_class.values():
        class_units.sort()
        val, test = _split_counts(sum(len(ids) for _, ids in class_units), dataset.val_fraction, dataset.test_fraction)
        room = {Split.TEST: test, Split.VAL: val}
        for _, ids in class_units:
            # Singletons fill test, then val, then train in seeded order, as before groups existed.
            split = next((split for split in (Split.TEST, Split.VAL) if len(ids) <= room[split]), Split.TRAIN)
            if split in room:
                room[split] -= len(ids)
            ids_by_split[split] += ids
    for split, ids in ids_by_split.items():
        for start in range(0, len(ids), _CHUNK):
            DatasetImage.objects.filter(id__in=ids[start : start + _CHUNK]).exclude(split=split).update(split=split)

    copies = DatasetImage.objects.filter(dataset=dataset, origin=DatasetImage.Origin.AUGMENTED)
    copies.exclude(split=Split.TRAIN).update(split=Split.TRAIN)
    deleted = images_delete(images=copies.exclude(source_image__split=Split.TRAIN))

    counts = {split.value: len(ids) for split, ids in ids_by_split.items()}
    counts["augmented_deleted"] = deleted
    return counts
