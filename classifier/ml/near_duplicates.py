"""Perceptual hashes of pictures and the groups of near-identical ones (resized, recompressed, slightly
cropped or turned copies), for telling near-duplicates apart from distinct pictures. No Django.

A hash is 192 bits in 48 hex digits: a 64-bit pHash (DCT of the 32x32 grey image: robust to scaling and
recompression), then 64-bit dHashes of the horizontal and of the vertical gradients (9x8 and 8x9 grey
images). Two pictures are near-duplicates when the Hamming distance over all 192 bits is at most a
threshold; bench/near_duplicates.py measured this against each hash alone and against pHash + dHash, and
chose the default threshold.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import imagehash
import numpy as np
from PIL import Image, ImageOps

from classifier.ml.images import to_rgb

HASH_BITS = 192
# The default threshold on the summed Hamming distance (see bench/near_duplicates.py for the figures).
DEFAULT_MAX_DISTANCE = 57
# More neighbours than this within the threshold: the hash is in a dense region where it cannot separate
# distinct pictures, and only much closer pairs count (see ``near_duplicate_groups``). Real near-copies come
# a few at a time (a resized, a recompressed, a cropped copy); alike pictures by the hundred.
DENSE_NEIGHBOURS = 8
# A picture with no visible structure (one flat colour, a blank page) would hash like every other such
# picture, whatever its colour: it gets this mark instead of a hash and is compared by exact content only.
NO_STRUCTURE = "-"
# An older image whose file could not be read or decoded when its hash was filled in: not compared, and not
# read again on every check (manage.py near_duplicates_hash --retry-unreadable tries them again).
UNREADABLE = "?"
# Grey levels (0-255): below this spread over the 32x32 grey picture the hashes only see rounding noise.
_MIN_GREY_SPREAD = 2.0


def perceptual_hash(image: Image.Image) -> str:
    """The picture's 192-bit perceptual hash as 48 hex digits, upright (EXIF applied) and in RGB first, as
    the models see it; ``NO_STRUCTURE`` for a picture of one flat colour."""
    grey = _small_grey(image)
    if float(np.asarray(grey.resize((32, 32), Image.Resampling.BOX), dtype=np.float32).std()) < _MIN_GREY_SPREAD:
        return NO_STRUCTURE
    return str(imagehash.phash(grey)) + str(imagehash.dhash(grey)) + str(imagehash.dhash_vertical(grey))


def _small_grey(image: Image.Image) -> Image.Image:
    # The hashes shrink to at most 32 px anyway; shrinking big photos first (box filter) keeps a 12 MP
    # upload's hash to a millisecond or two without changing what the hashes see.
    upright = to_rgb(ImageOps.exif_transpose(image))
    factor = min(upright.width, upright.height) // 128
    if factor > 1:
        upright = upright.reduce(factor)
    return upright.convert("L")


def hash_distance(first: str, second: str) -> int:
    """The number of bits two hashes differ in."""
    return (int(first, 16) ^ int(second, 16)).bit_count()


def hashes_matrix(hashes: Sequence[str]) -> np.ndarray:
    """(n, 3) uint64: each 192-bit hash as three words, for ``distances_to``."""
    packed = b"".join(bytes.fromhex(value) for value in hashes)
    return np.frombuffer(packed, dtype=">u8").astype(np.uint64).reshape(len(hashes), HASH_BITS // 64)


def distances_to(matrix: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Bits differing between ``matrix``'s hashes and ``other`` (one hash, or hashes broadcast against them),
    summed over the last axis (three words: at most 192, so uint8)."""
    # A word at a time: four times faster than one xor over all words and a sum along the axis.
    total = _bit_count(np.bitwise_xor(matrix[..., 0], other[..., 0]))
    for word in range(1, matrix.shape[-1]):
        total += _bit_count(np.bitwise_xor(matrix[..., word], other[..., word]))
    return total


def _bit_count(words: np.ndarray) -> np.ndarray:
    counts: np.ndarray
    if hasattr(np, "bitwise_count"):
        counts = np.bitwise_count(words)
    else:
        # NumPy before 2.0: count the bits of each byte through a table.
        as_bytes = words.view(np.uint8).reshape(*words.shape, 8)
        counts = _BYTE_BITS[as_bytes].sum(axis=-1, dtype=np.uint8)
    return counts


_BYTE_BITS = np.array([bin(value).count("1") for value in range(256)], dtype=np.uint8)


def nearest(hashes: Sequence[str], target: str, max_distance: int) -> int | None:
    """The index of the hash closest to ``target`` within ``max_distance`` (the first on ties), or None.

    In a dense region (more than ``DENSE_NEIGHBOURS`` hashes within ``max_distance``: pictures alike by
    nature, such as scans of one form or handwritten digits) only a match within ``sure_distance`` counts.
    """
    if not hashes:
        return None
    distances = distances_to(hashes_matrix(hashes), hashes_matrix([target])[0])
    best = int(np.argmin(distances))
    if distances[best] > max_distance:
        return None
    if int((distances <= max_distance).sum()) > DENSE_NEIGHBOURS and distances[best] > sure_distance(max_distance):
        return None
    return best


def sure_distance(max_distance: int) -> int:
    """The distance within which two hashes are the same picture even where pictures are alike."""
    return max_distance // 3


def near_duplicate_groups(hashes: Sequence[str], max_distance: int) -> list[list[int]]:
    """Indices of the hashes grouped by near-duplication (union-find over close pairs, so a chain of close
    pairs is one group); only groups of two or more, each sorted, in the order of their first member.

    A pair is close within ``max_distance``, except where either hash has more than ``DENSE_NEIGHBOURS``
    neighbours that close: there the hash cannot tell distinct pictures apart (a dataset of digits or of
    one product on one background would chain into a single group and pull every image into one split), so
    only pairs within ``sure_distance`` count.

    All pairs are compared with a vectorised popcount, a block of rows at a time against the later rows
    (twice: once to count neighbours, once to join): 10,000 hashes are 50 million pairs, a second or two,
    in bounded memory.
    """
    count = len(hashes)
    parent = list(range(count))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    if count > 1:
        matrix = hashes_matrix(hashes)
        sure = sure_distance(max_distance)
        neighbours = np.zeros(count, dtype=np.int64)
        for start, distances, later in _upper_blocks(matrix):
            close = (distances <= max_distance) & later
            neighbours[start : start + len(close)] += close.sum(axis=1)
            neighbours[start:] += close.sum(axis=0)
        sparse = neighbours <= DENSE_NEIGHBOURS
        for start, distances, later in _upper_blocks(matrix):
            rows = slice(start, start + len(distances))
            joined = later & (
                (distances <= sure) | ((distances <= max_distance) & sparse[rows, None] & sparse[None, start:])
            )
            for row, column in zip(*np.nonzero(joined), strict=True):
                parent[root(start + int(column))] = root(start + int(row))
    members: dict[int, list[int]] = {}
    for index in range(count):
        members.setdefault(root(index), []).append(index)
    return sorted((group for group in members.values() if len(group) > 1), key=lambda group: group[0])


def _upper_blocks(matrix: np.ndarray, block: int = 512) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Block by block: (start, distances from rows start..start+block to every hash from start on, and
    which of those pairs are each pair's one visit: the column after the row)."""
    for start in range(0, len(matrix), block):
        distances = distances_to(matrix[start : start + block, None, :], matrix[None, start:, :])
        rows, columns = distances.shape
        later = np.arange(columns)[None, :] > np.arange(rows)[:, None]
        yield start, distances, later
