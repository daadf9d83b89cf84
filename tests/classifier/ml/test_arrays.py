"""Features on the worker's disk: filled a batch at a time from the cache or the model, and streamed
back in batches, so memory does not grow with the dataset."""

import numpy as np

from classifier.ml import arrays
from classifier.ml.features import FeatureKey, MemoryFeatureCache


def _key(index: int) -> FeatureKey:
    return FeatureKey(f"{index:064x}", "backbone", 32, "imagenet", "original")


def test_fill_features_computes_only_what_the_cache_misses(tmp_path):
    cache = MemoryFeatureCache()
    cache.put(_key(1), np.full(3, 100.0, dtype=np.float32))
    loaded = []
    loaders = [lambda index=index: loaded.append(index) or np.full((2, 2, 3), index, np.uint8) for index in range(5)]
    batches = []

    def extract(batch):
        batches.append(len(batch))
        return batch.reshape(len(batch), -1)[:, :3] * 2

    out = arrays.disk_array(tmp_path, "features", (5, 3), np.float32)
    arrays.fill_features(out, extract, loaders, [_key(i) for i in range(5)], cache, batch_size=2)

    assert sorted(loaded) == [0, 2, 3, 4]
    np.testing.assert_array_equal(out[:, 0], [0, 100, 4, 6, 8])
    # Short batches are padded to the batch size, so a compiled predict function never retraces.
    assert batches == [2, 2]
    np.testing.assert_array_equal(cache.get(_key(4)), [8, 8, 8])
    # The file holds what the array holds: a later reader sees the features without the run's memory.
    np.testing.assert_array_equal(np.load(tmp_path / "features.npy", mmap_mode="r")[:, 0], [0, 100, 4, 6, 8])


def test_map_in_batches_keeps_the_order_and_drops_padding(tmp_path):
    inputs = np.arange(7 * 2, dtype=np.float32).reshape(7, 2)
    out = arrays.disk_array(tmp_path, "mapped", (7, 1), np.float32)
    sizes = []

    arrays.map_in_batches(out, lambda batch: sizes.append(len(batch)) or batch.sum(axis=1, keepdims=True), inputs, 3)

    np.testing.assert_array_equal(out[:, 0], inputs.sum(axis=1))
    assert sizes == [3, 3, 3]


def test_feed_streams_every_row_once_per_epoch_and_one_view_per_image():
    views = np.stack([np.full((6, 2), 10 * view, np.float32) for view in range(3)], axis=1)
    views += np.arange(6, dtype=np.float32)[:, None, None]
    targets = np.eye(6, dtype=np.float32)

    seen_rows, seen_views = [], set()
    for rows, batch_targets in arrays.feed(views, targets, 4, shuffle_seed=0, random_view=True):
        rows, batch_targets = rows.numpy(), batch_targets.numpy()
        image = batch_targets.argmax(axis=1)
        # Each row is one of its own image's views, and goes with its own target.
        assert ((rows[:, 0] - image) % 10 == 0).all()
        seen_rows += image.tolist()
        seen_views |= set((rows[:, 0] // 10).astype(int).tolist())

    assert sorted(seen_rows) == list(range(6))
    assert seen_views <= {0, 1, 2}


def test_repeated_rows_maps_flattened_views_to_their_image():
    np.testing.assert_array_equal(arrays.repeated_rows(3, 2), [0, 0, 1, 1, 2, 2])
