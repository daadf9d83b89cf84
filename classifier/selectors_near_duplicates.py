"""Reads of a dataset's near-duplicate groups (pictures whose perceptual hashes are within
``SIGHTLINE_NEAR_DUPLICATE_DISTANCE`` bits, chained), and which of them leak across splits.

Only stored hashes are read: ``services.near_duplicates.perceptual_hashes_fill`` hashes older images first
where a check needs every image. Augmented copies are left out (they always train, after their source).
"""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Max, QuerySet, Sum

from classifier.ml.near_duplicates import NO_STRUCTURE, UNREADABLE
from classifier.ml.near_duplicates import near_duplicate_groups as hash_groups
from classifier.models import Dataset, DatasetImage

_SPLIT_ORDER = [split.value for split in DatasetImage.Split]
_CACHE_SECONDS = 24 * 3600


@dataclass(frozen=True)
class NearDuplicateGroup:
    # Oldest first: the first member's split is where the fix moves the others.
    members: list[DatasetImage]

    @property
    def id(self) -> int:
        """The group's name in the API and on the page: its first member's image id."""
        return self.members[0].id

    @property
    def splits(self) -> list[str]:
        present = {member.split for member in self.members}
        return [split for split in _SPLIT_ORDER if split in present]

    @property
    def leaks(self) -> bool:
        """True when the group straddles splits: a held-out picture has a near-copy elsewhere."""
        return len(self.splits) > 1


def hashed_originals(*, dataset: Dataset) -> QuerySet[DatasetImage]:
    """The dataset's images that near-duplicate checks compare: not augmented copies, and hashed (not
    waiting for ``perceptual_hashes_fill``, not a flat picture without a hash, not an unreadable file)."""
    return (
        DatasetImage.objects.filter(dataset=dataset)
        .exclude(origin=DatasetImage.Origin.AUGMENTED)
        .exclude(perceptual_hash__in=["", NO_STRUCTURE, UNREADABLE])
    )


def near_duplicate_id_groups(*, dataset: Dataset) -> list[list[int]]:
    """Image ids per near-duplicate group of two or more, each oldest first, groups by their first member.

    Cached: comparing 10,000 hashes takes a second or two, and the dataset page shows the counts. Groups
    depend only on which images are hashed (hashes never change), so the key is their count and the sum
    and highest of their ids: any image added, hashed or deleted makes a new key. Splits are not cached.
    """
    hashed = hashed_originals(dataset=dataset)
    state = hashed.aggregate(count=Count("id"), total=Sum("id"), last=Max("id"))
    threshold = settings.SIGHTLINE_NEAR_DUPLICATE_DISTANCE
    key = f"near-duplicates:{dataset.id}:{state['count']}:{state['total']}:{state['last']}:{threshold}"
    cached: list[list[int]] | None = cache.get(key)
    if cached is not None:
        return cached
    rows = list(hashed.order_by("created_at", "id").values_list("id", "perceptual_hash"))
    groups = [[rows[index][0] for index in group] for group in hash_groups([value for _, value in rows], threshold)]
    cache.set(key, groups, timeout=_CACHE_SECONDS)
    return groups


def near_duplicate_groups(*, dataset: Dataset, leaks_only: bool = False) -> list[NearDuplicateGroup]:
    """The dataset's near-duplicate groups with their images (and classes), oldest group first."""
    id_groups = near_duplicate_id_groups(dataset=dataset)
    images = DatasetImage.objects.select_related("label").in_bulk([image_id for ids in id_groups for image_id in ids])
    # An image deleted since the groups were cached (or between the two reads) is left out, and a group
    # left with one member is no group.
    present = ([images[image_id] for image_id in ids if image_id in images] for ids in id_groups)
    groups = [NearDuplicateGroup(members=members) for members in present if len(members) > 1]
    return [group for group in groups if group.leaks] if leaks_only else groups


def near_duplicate_summary(*, dataset: Dataset, groups: list[NearDuplicateGroup]) -> dict[str, Any]:
    """Counts for the check's header: groups, leaking groups, images in groups, and images not hashed yet."""
    unhashed = (
        DatasetImage.objects.filter(dataset=dataset, perceptual_hash="")
        .exclude(origin=DatasetImage.Origin.AUGMENTED)
        .count()
    )
    return {
        "groups": len(groups),
        "leaking_groups": sum(group.leaks for group in groups),
        "images": sum(len(group.members) for group in groups),
        "unhashed_images": unhashed,
    }
