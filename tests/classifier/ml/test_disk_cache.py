"""Local caches are caches: bounded in bytes, least recently used out first, and deleting or damaging
them at any time loses nothing and breaks no training (what is missing is computed again)."""

import os
import shutil
import time

import numpy as np
import pytest

from classifier.ml.disk_cache import STALE_TEMPORARY_SECONDS, BoundedFolder
from classifier.ml.features import DirectoryFeatureCache, FeatureKey, compute_features
from classifier.ml.training import train
from tests.classifier.ml.test_training import CLASS_NAMES, RecordingObserver, config, square_records

VECTOR = np.arange(256, dtype=np.float32)  # 1,024 bytes of data, 1,152 as a .npy file


def _key(name: str) -> FeatureKey:
    return FeatureKey(sha256=name * 32, backbone="mobilenet_v2", input_size=8, weights="imagenet")


def _file_bytes(tmp_path) -> int:
    cache = DirectoryFeatureCache(tmp_path / "probe")
    cache.put(_key("00"), VECTOR)
    return cache.path_for(_key("00")).stat().st_size


def _later() -> None:
    # Recency is a file's modification time: keep each step's apart even on a coarse clock.
    time.sleep(0.02)


def test_the_least_recently_used_features_are_evicted_first_and_the_folder_stays_bounded(tmp_path):
    size = _file_bytes(tmp_path)
    cache = DirectoryFeatureCache(tmp_path / "features", max_bytes=3 * size)
    for name in ("aa", "bb", "cc"):
        cache.put(_key(name), VECTOR)
        _later()
    assert cache.get(_key("aa")) is not None  # read: now the most recently used
    _later()

    cache.put(_key("dd"), VECTOR)

    # Over the limit: down to 90% of it, oldest use first, so "bb" and then "cc" went, "aa" (read) stayed.
    assert [name for name in ("aa", "bb", "cc", "dd") if cache.get(_key(name)) is not None] == ["aa", "dd"]
    assert cache.folder.usage() <= 3 * size
    for name in ("ee", "ff", "gg", "hh"):
        cache.put(_key(name), VECTOR)
        assert cache.folder.usage() <= 3 * size


def test_without_a_limit_nothing_is_evicted(tmp_path):
    cache = DirectoryFeatureCache(tmp_path)
    for name in ("aa", "bb", "cc", "dd"):
        cache.put(_key(name), VECTOR)
    assert all(cache.get(_key(name)) is not None for name in ("aa", "bb", "cc", "dd"))


def test_eviction_sees_other_processes_files_and_removes_dead_writers_temporary_files(tmp_path):
    size = _file_bytes(tmp_path)
    other = DirectoryFeatureCache(tmp_path / "shared")
    for name in ("aa", "bb", "cc"):
        other.put(_key(name), VECTOR)
        _later()
    dead = tmp_path / "shared" / "left-by-a-killed-writer.tmp"
    dead.write_bytes(b"x" * 100)
    old = time.time() - STALE_TEMPORARY_SECONDS - 60
    os.utime(dead, (old, old))
    bounded = DirectoryFeatureCache(tmp_path / "shared", max_bytes=2 * size)

    bounded.put(_key("dd"), VECTOR)

    assert not dead.exists()
    assert [name for name in ("aa", "bb", "cc", "dd") if bounded.get(_key(name)) is not None] == ["dd"]


def test_eviction_deletes_cache_files_only_even_in_a_folder_shared_with_other_things(tmp_path):
    size = _file_bytes(tmp_path)
    # The cache set by mistake to a folder that also holds the database and a training's scratch files.
    database = tmp_path / "var" / "db.sqlite3"
    database.parent.mkdir()
    database.write_bytes(b"x" * 10 * size)
    cache = DirectoryFeatureCache(tmp_path / "var", max_bytes=2 * size)

    for name in ("aa", "bb", "cc"):
        cache.put(_key(name), VECTOR)
        _later()

    assert database.read_bytes() == b"x" * 10 * size
    assert [name for name in ("aa", "bb", "cc") if cache.get(_key(name)) is not None] == ["cc"]


def test_a_deleted_folder_is_a_miss_and_is_made_again_on_the_next_write(tmp_path):
    cache = DirectoryFeatureCache(tmp_path / "features", max_bytes=10**6)
    cache.put(_key("aa"), VECTOR)
    shutil.rmtree(tmp_path / "features")

    assert cache.get(_key("aa")) is None
    cache.put(_key("aa"), VECTOR * 2)
    np.testing.assert_array_equal(cache.get(_key("aa")), VECTOR * 2)


def test_a_folder_deleted_while_features_are_computed_changes_no_result(tmp_path):
    root = tmp_path / "features"
    cache = DirectoryFeatureCache(root, max_bytes=10**6)
    images = [lambda value=value: np.full((8, 8, 3), value, dtype=np.uint8) for value in range(6)]
    keys = [_key(f"{value:02x}") for value in range(6)]
    compute_features(lambda batch: batch.mean(axis=(1, 2)), images[:3], 2, cache, keys[:3])

    # Deleted after every batch: between reading the hits, computing the misses and writing them.
    features = compute_features(
        lambda batch: batch.mean(axis=(1, 2)), images, 2, cache, keys, on_batch_end=lambda: shutil.rmtree(root, True)
    )

    np.testing.assert_allclose(features, np.repeat(np.arange(6, dtype=np.float32)[:, None], 3, axis=1))


def test_a_corrupt_cache_file_is_computed_again_and_rewritten(tmp_path):
    cache = DirectoryFeatureCache(tmp_path)
    key = _key("aa")
    cache.put(key, np.array([9.0, 9.0, 9.0], dtype=np.float32))
    path = cache.path_for(key)
    path.write_bytes(path.read_bytes()[:-5])  # truncated, as by a disk that filled up
    calls = []

    def extract(batch):
        calls.append(len(batch))
        return batch.mean(axis=(1, 2))

    features = compute_features(extract, [lambda: np.full((8, 8, 3), 4, dtype=np.uint8)], 1, cache, [key])

    assert calls == [1]
    np.testing.assert_array_equal(features, [[4.0, 4.0, 4.0]])
    np.testing.assert_array_equal(cache.get(key), [4.0, 4.0, 4.0])


def test_a_cache_that_cannot_be_written_is_skipped_not_fatal(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    cache = DirectoryFeatureCache(blocker, max_bytes=10**6)

    cache.put(_key("aa"), VECTOR)

    assert cache.get(_key("aa")) is None
    assert not BoundedFolder(tmp_path, 10**6).write(blocker / "x" / "y.npy", lambda file: file.write(b"1"))


def test_a_training_whose_cache_folder_is_deleted_mid_way_trains_the_same_model(tmp_path):
    train_images, train_labels = square_records(8, seed=0)
    val_images, val_labels = square_records(4, seed=1)
    settings = config(epochs=3, augment=True)
    root = tmp_path / "features"

    class DeletingObserver(RecordingObserver):
        def on_batch_end(self):
            super().on_batch_end()
            shutil.rmtree(root, ignore_errors=True)

    undisturbed = train(settings, train_images, train_labels, val_images, val_labels, CLASS_NAMES)
    disturbed = train(
        settings,
        train_images,
        train_labels,
        val_images,
        val_labels,
        CLASS_NAMES,
        DeletingObserver(),
        feature_cache=DirectoryFeatureCache(root, max_bytes=10**7),
    )

    assert [entry["loss"] for entry in disturbed.history] == pytest.approx(
        [entry["loss"] for entry in undisturbed.history], rel=1e-4
    )
    np.testing.assert_allclose(disturbed.val_probabilities, undisturbed.val_probabilities, atol=1e-4)
