import numpy as np
import pytest

from classifier.ml.features import (
    DirectoryFeatureCache,
    FeatureKey,
    MemoryFeatureCache,
    compute_features,
)


class CountingExtractor:
    """Maps each image to [mean red, mean green, mean blue] and records the batch sizes it saw."""

    def __init__(self):
        self.batch_sizes = []

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        assert batch.dtype == np.float32
        self.batch_sizes.append(len(batch))
        return batch.mean(axis=(1, 2))


def solid(colour) -> np.ndarray:
    return np.broadcast_to(np.array(colour, dtype=np.uint8), (8, 8, 3)).copy()


def keys_for(names, **overrides):
    parts = {"backbone": "mobilenet_v2", "input_size": 8, "weights": "imagenet"} | overrides
    return [FeatureKey(sha256=name, **parts) for name in names]


COLOURS = [(255, 0, 0), (0, 0, 255), (0, 255, 0), (9, 9, 9), (1, 2, 3)]


@pytest.fixture(params=["memory", "directory"])
def cache(request, tmp_path):
    return MemoryFeatureCache() if request.param == "memory" else DirectoryFeatureCache(tmp_path)


def test_second_pass_is_served_from_the_cache(cache):
    extractor = CountingExtractor()
    loads = []
    images = [lambda colour=colour: loads.append(colour) or solid(colour) for colour in COLOURS]
    keys = keys_for([f"{i:064x}" for i in range(len(COLOURS))])

    first = compute_features(extractor, images, 2, cache, keys)
    second = compute_features(extractor, images, 2, cache, keys)

    # Batches of 2, 2 and 1 padded to 2 (one input shape, one compiled function); none the second time.
    assert extractor.batch_sizes == [2, 2, 2]
    assert len(loads) == len(COLOURS)  # cached images are not even read
    np.testing.assert_allclose(first, np.array(COLOURS, dtype=np.float32))
    np.testing.assert_array_equal(first, second)


def test_only_misses_are_computed_and_order_is_kept(cache):
    extractor = CountingExtractor()
    images = [lambda colour=colour: solid(colour) for colour in COLOURS]
    keys = keys_for([f"{i:064x}" for i in range(len(COLOURS))])
    compute_features(extractor, images[1:3], 4, cache, keys[1:3])

    features = compute_features(extractor, images, 4, cache, keys)

    assert extractor.batch_sizes == [2, 3]
    np.testing.assert_allclose(features, np.array(COLOURS, dtype=np.float32))


def test_keys_differing_in_any_part_do_not_share_features(cache):
    extractor = CountingExtractor()
    image = [lambda: solid((5, 6, 7))]
    for overrides in [
        {},
        {"backbone": "resnet50"},
        {"input_size": 16},
        {"weights": "random-seed0"},
        {"variant": "mirrored"},
    ]:
        compute_features(extractor, image, 1, cache, keys_for(["ab" * 32], **overrides))
    assert extractor.batch_sizes == [1] * 5


def test_directory_cache_survives_a_new_instance_and_treats_damage_as_a_miss(tmp_path):
    key = keys_for(["cd" * 32])[0]
    DirectoryFeatureCache(tmp_path).put(key, np.arange(4, dtype=np.float32))

    reopened = DirectoryFeatureCache(tmp_path)
    np.testing.assert_array_equal(reopened.get(key), np.arange(4, dtype=np.float32))
    assert not list(tmp_path.rglob("*.tmp"))

    reopened.path_for(key).write_bytes(b"garbage")
    assert reopened.get(key) is None


def test_batch_hook_runs_once_per_computed_batch(cache):
    ticks = []
    images = [lambda colour=colour: solid(colour) for colour in COLOURS]
    compute_features(
        CountingExtractor(),
        images,
        2,
        cache,
        keys_for([f"{i:064x}" for i in range(5)]),
        on_batch_end=lambda: ticks.append(1),
    )
    assert len(ticks) == 3


@pytest.mark.parametrize("bad", ["", "..", "a/b", "a\\b"])
def test_keys_cannot_escape_the_cache_folder(bad):
    with pytest.raises(ValueError, match="invalid feature key"):
        FeatureKey(sha256=bad, backbone="mobilenet_v2", input_size=8, weights="imagenet")
