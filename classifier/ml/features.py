"""Backbone features computed once per image and reused across epochs and model versions.

A frozen backbone maps an image to the same vector every time, so phase 1 of training (head only)
needs each image's features once; after that a head epoch costs a few matrix products. The cache is
keyed by everything the vector depends on: the image's bytes (sha256), the backbone, its weights,
the input size and the view of the image (original or a fixed augmentation such as a mirror image).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from classifier.ml.disk_cache import BoundedFolder
from classifier.ml.views import ORIGINAL

# Images a batch loads at once. Loading is reading a file from storage and decoding it: with object
# storage each read is a round trip that costs far more than its bytes, and Pillow decodes without
# holding the GIL, so a batch's reads overlap instead of queueing one after another.
LOAD_THREADS = 8
_loader_pool = ThreadPoolExecutor(max_workers=LOAD_THREADS, thread_name_prefix="sightline-image-load")


def load_batch(loaders: Sequence[Callable[[], np.ndarray]]) -> np.ndarray:
    """The images of ``loaders`` as one float32 batch, loaded concurrently, in order."""
    if len(loaders) == 1:
        return np.stack([loaders[0]()]).astype(np.float32)
    return np.stack(list(_loader_pool.map(lambda load: load(), loaders))).astype(np.float32)


@dataclass(frozen=True)
class FeatureKey:
    sha256: str
    backbone: str
    input_size: int
    # What the backbone weights were: "imagenet", or e.g. "random-seed0" for an untrained
    # backbone, whose features differ from one seed to the next and must never be mixed.
    weights: str
    variant: str = ORIGINAL

    def __post_init__(self) -> None:
        # The parts become path components in DirectoryFeatureCache; refuse anything that could
        # climb out of the cache folder.
        for part in (self.sha256, self.backbone, self.weights, self.variant):
            if not part or part in (".", "..") or "/" in part or "\\" in part or "\0" in part:
                raise ValueError(f"invalid feature key part {part!r}")


class FeatureCache(Protocol):
    def get(self, key: FeatureKey) -> np.ndarray | None: ...

    def put(self, key: FeatureKey, features: np.ndarray) -> None: ...


class MemoryFeatureCache:
    """Features kept for the life of one process (the default when no cache folder is given)."""

    def __init__(self) -> None:
        self._arrays: dict[FeatureKey, np.ndarray] = {}

    def get(self, key: FeatureKey) -> np.ndarray | None:
        return self._arrays.get(key)

    def put(self, key: FeatureKey, features: np.ndarray) -> None:
        self._arrays[key] = np.array(features, dtype=_stored_dtype(features))


class DirectoryFeatureCache:
    """One .npy file per key under `root`/backbone/weights/size/variant/ab/<sha256>.npy, at most
    `max_bytes` in all (None: no limit), least recently used evicted first (`disk_cache.BoundedFolder`).

    One file per image lets workers on the same folder fill it concurrently and lets a version
    reuse exactly the images it shares with its parent; writes are atomic (temp file + rename), so a
    reader never sees half a vector. It is a cache, never the only copy: a vector that is missing,
    damaged or evicted, even the whole folder deleted mid-training, is recomputed from the image.
    """

    def __init__(self, root: str | os.PathLike[str], max_bytes: int | None = None) -> None:
        self.folder = BoundedFolder(root, max_bytes, suffix=".npy")
        self.root = self.folder.root

    def path_for(self, key: FeatureKey) -> Path:
        return (
            self.root
            / key.backbone
            / key.weights
            / str(key.input_size)
            / key.variant
            / key.sha256[:2]
            / f"{key.sha256}.npy"
        )

    def get(self, key: FeatureKey) -> np.ndarray | None:
        path = self.path_for(key)
        try:
            # Read whole, not memory-mapped: an eviction or a deleted folder cannot pull it from under us.
            features: np.ndarray = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            # Missing or damaged alike: a miss, so the features are recomputed and rewritten.
            return None
        self.folder.touch(path)
        return features

    def put(self, key: FeatureKey, features: np.ndarray) -> None:
        array = np.asarray(features, dtype=_stored_dtype(features))
        self.folder.write(self.path_for(key), lambda file: np.save(file, array, allow_pickle=False))


def _stored_dtype(features: np.ndarray) -> type[np.float16 | np.float32]:
    # Mid-level feature maps are kept in half precision (half the disk); pooled vectors in full.
    return np.float16 if np.asarray(features).dtype == np.float16 else np.float32


def get_many(cache: FeatureCache, keys: Sequence[FeatureKey]) -> list[np.ndarray | None]:
    return [cache.get(key) for key in keys]


def put_many(cache: FeatureCache, keys: Sequence[FeatureKey], features: np.ndarray) -> None:
    if len(keys) != len(features):
        raise ValueError(f"{len(keys)} keys for {len(features)} feature vectors")
    for key, vector in zip(keys, features, strict=True):
        cache.put(key, vector)


def compute_features(
    extract: Callable[[np.ndarray], np.ndarray],
    images: Sequence[Callable[[], np.ndarray]],
    batch_size: int,
    cache: FeatureCache,
    keys: Sequence[FeatureKey],
    on_batch_end: Callable[[], None] | None = None,
) -> np.ndarray:
    """Return features (n, d) for `images`, running `extract` only on those missing from `cache`.

    `images` are loaders returning uint8 RGB arrays (s, s, 3), called only for misses and one batch
    at a time, so a fully cached dataset is never read from storage. `extract` maps a float32 batch
    (b, s, s, 3) in [0, 255] to (b, d), e.g. a feature extractor's `predict_on_batch`.
    `on_batch_end` runs after each computed batch (progress, heartbeat, cancellation).
    """
    if len(images) != len(keys):
        raise ValueError(f"{len(images)} images for {len(keys)} keys")
    if not keys:
        raise ValueError("no images to compute features for")
    found = get_many(cache, keys)
    missing = [index for index, vector in enumerate(found) if vector is None]
    computed: dict[int, np.ndarray] = {}
    if missing:
        batches = extract_in_batches(
            extract, [images[index] for index in missing], batch_size, on_batch_end=on_batch_end
        )
        put_many(cache, [keys[index] for index in missing], batches)
        computed = dict(zip(missing, batches, strict=True))
    rows = [vector if vector is not None else computed[index] for index, vector in enumerate(found)]
    return np.stack(rows).astype(np.float32)


def extract_in_batches(
    extract: Callable[[np.ndarray], np.ndarray],
    images: Sequence[Callable[[], np.ndarray]],
    batch_size: int,
    on_batch_end: Callable[[], None] | None = None,
) -> np.ndarray:
    """Run `extract` over all `images` (loaders), loading one batch at a time; no cache."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if not images:
        raise ValueError("no images to run the extractor on")
    results = []
    for start in range(0, len(images), batch_size):
        batch = load_batch(images[start : start + batch_size])
        count = len(batch)
        if count < batch_size and len(images) > batch_size:
            # Pad the last, short batch to full size: a new input shape makes a compiled Keras
            # predict function retrace, which costs more than the padded rows.
            padding = np.zeros((batch_size - count, *batch.shape[1:]), dtype=np.float32)
            batch = np.concatenate([batch, padding])
        computed = np.asarray(extract(batch), dtype=np.float32)[:count]
        if computed.shape[0] != count:
            raise ValueError(f"extractor returned {computed.shape[0]} rows for {count} images")
        results.append(computed)
        if on_batch_end is not None:
            on_batch_end()
    return np.concatenate(results)
