"""Builders of the registry's backbones (see `backbone_registry`) as Keras models.

`build_feature_extractor` returns a Keras model from RGB pixels in [0, 255] to pooled features with
the backbone's own preprocessing inside, so no caller ever preprocesses. Keras is imported inside the
builders only; `backbone_weights` says where the ImageNet weights come from.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from classifier.ml import efficientnet_lite
from classifier.ml.backbone_registry import (
    BACKBONE_LAYER_NAME,
    CAFFE,
    INSIDE_IMAGENET_NORMALIZATION,
    LITE,
    MINUS_ONE_TO_ONE,
    KerasRecipe,
    LiteRecipe,
    backbone_entry,
    checked_input_size,
)
from classifier.ml.backbone_weights import keras_weights_path, lite_weights_path, load_lite_weights
from classifier.ml.split import SplitBackbone, split_backbone

if TYPE_CHECKING:
    import keras

_CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)
_IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
_IMAGENET_STDDEV_RGB = (0.229, 0.224, 0.225)


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
    spec, recipe = backbone_entry(name)
    size = checked_input_size(spec, input_size)
    if weights not in ("imagenet", None):
        raise ValueError(f"weights must be 'imagenet' or None, got {weights!r}")
    import keras

    inputs = keras.Input(shape=(size, size, 3), dtype="float32", name="image")
    if isinstance(recipe, LiteRecipe):
        weights_path = (
            lite_weights_path(name, recipe.variant, weights_dir) if weights == "imagenet" else None
        )
        backbone = efficientnet_lite.build_backbone(recipe.variant, size, name=BACKBONE_LAYER_NAME)
        if weights_path is not None:
            load_lite_weights(backbone, weights_path)
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
    _, recipe = backbone_entry(name)
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
    spec, recipe = backbone_entry(name)
    size = checked_input_size(spec, input_size)
    weights_path = lite_weights_path(name, variant, weights_dir)
    import keras

    inputs = keras.Input(shape=(size, size, 3), dtype="float32", name="image")
    backbone = efficientnet_lite.build_backbone(variant, size, name=BACKBONE_LAYER_NAME)
    features = backbone(_preprocess(keras, recipe.preprocessing, inputs))
    # Named "fc" after the checkpoint's "_fc" tensors, which is how the loader finds them.
    probabilities = keras.layers.Dense(1000, activation="softmax", name="fc")(features)
    model = keras.Model(inputs, probabilities, name=f"{name}_imagenet")
    load_lite_weights(model, weights_path)
    return model


def _preprocess(keras: Any, preprocessing: str, pixels: Any) -> Any:
    layers = keras.layers
    if preprocessing == MINUS_ONE_TO_ONE:
        return layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocess")(pixels)
    if preprocessing == LITE:
        mean, stddev = efficientnet_lite.PIXEL_MEAN, efficientnet_lite.PIXEL_STDDEV
        return layers.Rescaling(1.0 / stddev, offset=-mean / stddev, name="preprocess")(pixels)
    if preprocessing == CAFFE:
        # The channel order is handled in the first convolution (_reverse_input_channels), so only the
        # mean is subtracted here, in RGB order.
        return layers.Normalization(mean=_CAFFE_MEAN_RGB, variance=(1.0, 1.0, 1.0), name="preprocess")(pixels)
    return pixels


def _build_keras_backbone(
    keras: Any,
    name: str,
    recipe: KerasRecipe,
    size: int,
    weights: str | None,
    weights_dir: str | Path | None,
) -> keras.Model:
    # Resolve the file before building: a missing file fails fast, before seconds of graph building.
    weights_path = keras_weights_path(name, size, recipe, weights_dir) if weights == "imagenet" else None
    application = getattr(keras.applications, recipe.application)
    backbone = application(
        include_top=False, weights=None, input_shape=(size, size, 3), pooling="avg", name=BACKBONE_LAYER_NAME
    )
    if weights_path is not None:
        # Keras's own weights="imagenet" path does exactly this after building with weights=None.
        backbone.load_weights(str(weights_path))
        if recipe.preprocessing == CAFFE:
            _reverse_input_channels(keras, backbone)
    if recipe.preprocessing == INSIDE_IMAGENET_NORMALIZATION:
        _set_imagenet_normalization(keras, backbone)
    return backbone


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
