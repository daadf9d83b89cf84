"""Near-duplicates: perceptual hashes of near-copies vs distinct pictures, and grouping them."""

import time

import numpy as np
import pytest

from classifier.ml.near_duplicates import NO_STRUCTURE, hash_distance, near_duplicate_groups, nearest
from classifier.services.imaging import image_check
from tests.classifier.near_duplicate_support import THRESHOLD, alike_hashes, encoded, near_copies, photo
from tests.factories import image_bytes


def _hash(content: bytes) -> str:
    return image_check(content=content, filename="x.png").perceptual_hash


# Pure hashing and grouping


@pytest.mark.parametrize("change", ["resized", "jpeg30", "cropped", "rotated"])
def test_near_copies_hash_within_the_threshold(change):
    for seed in range(8):
        original = _hash(encoded(photo(seed)))
        assert hash_distance(original, _hash(near_copies(photo(seed))[change])) <= THRESHOLD


def test_distinct_pictures_hash_further_apart_than_the_threshold():
    hashes = [_hash(encoded(photo(seed))) for seed in range(12)]

    distances = [hash_distance(a, b) for index, a in enumerate(hashes) for b in hashes[:index]]

    assert len(hashes[0]) == 48 and int(hashes[0], 16) >= 0
    assert min(distances) > THRESHOLD


def test_a_flat_picture_gets_no_hash_whatever_its_colour():
    assert _hash(image_bytes(color=(200, 0, 0), fmt="PNG")) == NO_STRUCTURE
    assert _hash(image_bytes(color=(0, 0, 200))) == NO_STRUCTURE


def test_groups_chain_close_pairs_and_leave_singletons_out():
    a = "0" * 48
    b = "f" * 8 + "0" * 40  # 32 bits from a
    c = "f" * 16 + "0" * 32  # 32 bits from b, 64 from a: in a's group through b
    lone = "f" * 48

    assert near_duplicate_groups([lone, a, b, c], 32) == [[1, 2, 3]]
    assert near_duplicate_groups([lone, a, b, c], 31) == []
    assert nearest([lone, c, b], a, 32) == 2
    assert nearest([lone, c], a, 32) is None
    assert nearest([], a, 32) is None


def test_alike_pictures_do_not_chain_into_one_group_but_a_real_copy_among_them_does():
    alike = alike_hashes(200)
    copy = f"{int(alike[7], 16) ^ 0b1111:048x}"  # 4 bits from alike[7]: the same picture

    assert near_duplicate_groups(alike, THRESHOLD) == []
    assert near_duplicate_groups([*alike, copy], THRESHOLD) == [[7, 200]]
    # A new picture in that region matches only a real copy, not whichever alike picture is closest.
    assert nearest(alike, alike_hashes(1, seed=1)[0], THRESHOLD) is None
    assert nearest(alike, copy, THRESHOLD) == 7


def test_a_few_near_copies_of_one_picture_still_group():
    # Near-copies come a few at a time: up to DENSE_NEIGHBOURS of them chain as before.
    original = "0" * 48
    copies = [f"{((1 << 20) - 1) << (20 * index):048x}" for index in range(5)]  # 20 bits from it, 40 apart
    assert near_duplicate_groups([original, *copies], THRESHOLD) == [[0, 1, 2, 3, 4, 5]]


def test_ten_thousand_hashes_group_in_seconds():
    rng = np.random.default_rng(0)
    hashes = [rng.bytes(24).hex() for _ in range(10_000)]
    planted = [f"{int(value, 16) ^ 0b111:048x}" for value in hashes[:100]]

    started = time.perf_counter()
    groups = near_duplicate_groups(hashes + planted, 8)

    assert time.perf_counter() - started < 20
    assert sorted(groups) == [[index, 10_000 + index] for index in range(100)]
