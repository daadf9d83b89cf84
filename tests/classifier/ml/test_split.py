"""A backbone cut in two: the bottom then the top computes what the whole backbone did, for any
functional backbone, so fine-tuning the top on cached bottom features trains the exported model."""

import numpy as np
import pytest

from classifier.ml.backbone_registry import BACKBONE_LAYER_NAME
from classifier.ml.backbones import build_split_extractor
from classifier.ml.split import clean_cuts


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "efficientnet_lite0", "resnet50"])
def test_bottom_then_top_equals_the_whole_backbone(name):
    extractor, split = build_split_extractor(name, input_size=64, weights=None, top_fraction=0.5)
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)

    whole = np.asarray(extractor.predict_on_batch(pixels))
    parts = np.asarray(split.top.predict_on_batch(np.asarray(split.bottom.predict_on_batch(pixels))))

    np.testing.assert_allclose(parts, whole, rtol=1e-4, atol=1e-4)
    assert 0.3 < split.top_fraction < 0.7
    assert not split.bottom.trainable


def test_the_top_shares_its_weights_with_the_exported_extractor():
    extractor, split = build_split_extractor("mobilenet_v3_small", input_size=32, weights=None, top_fraction=0.5)
    kernel = next(layer for layer in split.top.layers if layer.name == "conv_1").kernel

    kernel.assign(np.zeros(kernel.shape, dtype=np.float32))

    backbone = extractor.get_layer(BACKBONE_LAYER_NAME)
    assert not np.asarray(backbone.get_layer("conv_1").kernel).any()


def test_cuts_lie_only_where_one_tensor_crosses():
    import keras

    inputs = keras.Input((4,))
    a = keras.layers.Dense(4, name="a")(inputs)
    b = keras.layers.Dense(4, name="b")(a)
    # A skip connection: before add two tensors (a's and b's outputs) are alive, so no cut there;
    # before b only a's output is, which the top can take as its one input.
    added = keras.layers.Add(name="add")([a, b])
    out = keras.layers.Dense(2, name="out")(added)
    model = keras.Model(inputs, out)

    cut_names = [model.layers[position].name for position in clean_cuts(model)]

    assert cut_names == ["b", "out"]


def test_a_layer_count_sets_the_top_share():
    _, small = build_split_extractor("mobilenet_v3_small", input_size=32, weights=None, top_layers=2)
    _, half = build_split_extractor("mobilenet_v3_small", input_size=32, weights=None, top_layers=0, top_fraction=0.5)

    assert small.top_fraction < half.top_fraction
