"""Per-run arrays of cached features on the worker's disk, and the tf.data feeds that stream them.

A run's features (mid-level maps of every view of every image, pooled features) live in memory-mapped
files in a scratch folder, filled one batch at a time: the worker's memory holds a few batches, not
the dataset, so 50,000 images train in the same memory as 500. The operating system's page cache
keeps them in RAM when there is room.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from classifier.ml.features import FeatureCache, FeatureKey, load_batch


def disk_array(folder: Path, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    return np.lib.format.open_memmap(folder / f"{name}.npy", mode="w+", dtype=dtype, shape=shape)


def fill_features(
    out: np.ndarray,
    extract: Callable[[np.ndarray], np.ndarray],
    loaders: Sequence[Callable[[], np.ndarray]],
    keys: Sequence[FeatureKey],
    cache: FeatureCache,
    batch_size: int,
    on_batch_end: Callable[[], None] | None = None,
) -> np.ndarray:
    """Write each image's features into ``out[i]``, from the cache or by running ``extract`` on a
    batch of the images it misses; one batch in memory at a time."""
    if not (len(out) == len(loaders) == len(keys)):
        raise ValueError(f"{len(out)} rows for {len(loaders)} images and {len(keys)} keys")
    for start in range(0, len(keys), batch_size * 4):
        chunk = range(start, min(start + batch_size * 4, len(keys)))
        missing = []
        for index in chunk:
            found = cache.get(keys[index])
            if found is None:
                missing.append(index)
            else:
                out[index] = found
        for first in range(0, len(missing), batch_size):
            batch_indices = missing[first : first + batch_size]
            batch = load_batch([loaders[index] for index in batch_indices])
            # Pad a short batch: a new input shape would make the compiled predict function retrace.
            if len(batch) < batch_size and len(keys) > batch_size:
                batch = np.concatenate([batch, np.zeros((batch_size - len(batch), *batch.shape[1:]), np.float32)])
            computed = np.asarray(extract(batch))[: len(batch_indices)].astype(out.dtype)
            for index, features in zip(batch_indices, computed, strict=True):
                out[index] = features
                cache.put(keys[index], features)
            if on_batch_end is not None:
                on_batch_end()
    return out


def map_in_batches(
    out: np.ndarray,
    function: Callable[[np.ndarray], np.ndarray],
    inputs: np.ndarray,
    batch_size: int,
    on_batch_end: Callable[[], None] | None = None,
) -> np.ndarray:
    """``out[i] = function(inputs[i])``, a batch at a time (e.g. the top of the backbone over cached maps)."""
    for start in range(0, len(inputs), batch_size):
        batch = np.asarray(inputs[start : start + batch_size], dtype=np.float32)
        count = len(batch)
        if count < batch_size and len(inputs) > batch_size:
            batch = np.concatenate([batch, np.zeros((batch_size - count, *batch.shape[1:]), np.float32)])
        out[start : start + count] = np.asarray(function(batch))[:count]
        if on_batch_end is not None:
            on_batch_end()
    return out


def feed(
    features: np.ndarray,
    targets: np.ndarray,
    batch_size: int,
    *,
    shuffle_seed: int | None = None,
    random_view: bool = False,
    rows: np.ndarray | None = None,
    views: Sequence[int] | None = None,
) -> Any:
    """A tf.data dataset of (features, targets) batches read from ``features`` (a memory map) as it
    goes: every row, or those listed in ``rows``. With ``random_view``, ``features`` is (n, views, …)
    and each epoch sees one view of each image, drawn afresh from ``views`` (default: all)."""
    import tensorflow as tf

    rng = np.random.default_rng(shuffle_seed)
    row_shape = features.shape[2:] if random_view else features.shape[1:]
    allowed = np.asarray(views if views is not None else range(features.shape[1] if random_view else 1))

    def load(indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Sorted reads are sequential on disk; the batch's order does not matter to the gradient.
        indices = np.sort(indices)
        batch = features[indices]
        if random_view:
            batch = batch[np.arange(len(indices)), allowed[rng.integers(0, len(allowed), len(indices))]]
        return np.asarray(batch, dtype=np.float32), np.asarray(targets[indices], dtype=np.float32)

    def load_tensors(indices: Any) -> tuple[Any, Any]:
        rows, batch_targets = tf.numpy_function(load, [indices], [tf.float32, tf.float32])
        rows.set_shape((None, *row_shape))
        batch_targets.set_shape((None, *targets.shape[1:]))
        return rows, batch_targets

    chosen = np.arange(len(features)) if rows is None else np.asarray(rows, dtype=np.int64)
    indices = tf.data.Dataset.from_tensor_slices(chosen)
    if shuffle_seed is not None:
        indices = indices.shuffle(len(chosen), seed=shuffle_seed, reshuffle_each_iteration=True)
    return indices.batch(batch_size).map(load_tensors).prefetch(2)


def repeated_rows(count: int, views: int) -> np.ndarray:
    """Row i of a (count × views) flattening belongs to image i // views."""
    return np.repeat(np.arange(count), views)


def view_rows(count: int, views: int, used: Sequence[int]) -> NDArray[np.int64]:
    """The rows of a (count × views) flattening that hold the ``used`` views, image by image."""
    rows: NDArray[np.int64] = (np.arange(count)[:, None] * views + np.asarray(used, dtype=np.int64)[None, :]).ravel()
    return rows
