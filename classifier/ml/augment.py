"""Dataset augmentation: new, stored image files that top up small classes (Pillow only).

This is not the on-the-fly augmentation of fine-tuning (training.py): these copies become images
of the dataset, with their own hash. So every transform always changes the image (no "maybe
flip"), or the copy would be a duplicate of its source.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image, ImageEnhance, ImageOps, ImageStat

from classifier.ml.images import to_rgb

# Ranges chosen to look like another photo of the same thing, not a distorted one.
_ROTATION_DEGREES = (5.0, 20.0)
_SHIFT_FRACTION = (0.03, 0.10)
_ZOOM_FACTOR = (1.05, 1.25)
_ENHANCE_CHANGE = (0.10, 0.30)


def check_transforms(transforms: Sequence[str]) -> None:
    """Raise ValueError naming any transform not in AUGMENT_TRANSFORMS (or an empty list)."""
    if not transforms:
        raise ValueError(f"choose at least one transform from {', '.join(AUGMENT_TRANSFORMS)}")
    unknown = [name for name in transforms if name not in AUGMENT_TRANSFORMS]
    if unknown:
        raise ValueError(
            f"unknown augmentation transform(s): {', '.join(map(repr, unknown))}; "
            f"choose from {', '.join(AUGMENT_TRANSFORMS)}"
        )


def augment_image(image: Image.Image, transforms: Sequence[str], rng: np.random.Generator) -> Image.Image:
    """Apply each named transform once, in order, with parameters drawn from `rng`; RGB out."""
    check_transforms(transforms)
    result = to_rgb(image)
    for name in transforms:
        result = _TRANSFORMS[name](result, rng)
    return result


def plan_augmentation(counts_per_class: Mapping[str, int], target_per_class: int | None = None) -> dict[str, int]:
    """How many augmented copies each class needs to reach `target_per_class` images.

    The default target is the largest class, which balances the dataset. Classes already at or
    above the target get 0, and so do empty classes: there is no image to copy from.
    """
    if any(count < 0 for count in counts_per_class.values()):
        raise ValueError("image counts cannot be negative")
    if target_per_class is None:
        target_per_class = max(counts_per_class.values(), default=0)
    elif target_per_class < 1:
        raise ValueError(f"target_per_class must be at least 1, got {target_per_class}")
    return {name: max(0, target_per_class - count) if count > 0 else 0 for name, count in counts_per_class.items()}


def _flip(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    return ImageOps.mirror(image)


def _rotation(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    angle = _signed(rng, *_ROTATION_DEGREES)
    return image.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=_mean_colour(image))


def _shift(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    width, height = image.size
    dx = round(_signed(rng, *_SHIFT_FRACTION) * width) or 1
    dy = round(_signed(rng, *_SHIFT_FRACTION) * height) or 1
    return image.transform(
        image.size,
        Image.Transform.AFFINE,
        (1, 0, dx, 0, 1, dy),
        resample=Image.Resampling.BILINEAR,
        fillcolor=_mean_colour(image),
    )


def _zoom(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    width, height = image.size
    factor = rng.uniform(*_ZOOM_FACTOR)
    # At least a pixel smaller than the image, or a small image would come back unchanged.
    crop_width = max(1, min(width - 1, round(width / factor)))
    crop_height = max(1, min(height - 1, round(height / factor)))
    left = int(rng.integers(0, width - crop_width + 1))
    top = int(rng.integers(0, height - crop_height + 1))
    box = (left, top, left + crop_width, top + crop_height)
    return image.resize(image.size, Image.Resampling.BILINEAR, box=box)


def _brightness(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    return ImageEnhance.Brightness(image).enhance(1.0 + _signed(rng, *_ENHANCE_CHANGE))


def _contrast(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    return ImageEnhance.Contrast(image).enhance(1.0 + _signed(rng, *_ENHANCE_CHANGE))


def _signed(rng: np.random.Generator, low: float, high: float) -> float:
    # A magnitude bounded away from zero, in either direction, so the transform is never a no-op.
    return float(rng.uniform(low, high) * rng.choice((-1.0, 1.0)))


def _mean_colour(image: Image.Image) -> tuple[int, ...]:
    # Corners uncovered by rotating or shifting get the image's average colour: less of an edge
    # for a model to latch onto than black.
    return tuple(round(value) for value in ImageStat.Stat(image).mean)


_TRANSFORMS = {
    "flip": _flip,
    "rotation": _rotation,
    "shift": _shift,
    "zoom": _zoom,
    "brightness": _brightness,
    "contrast": _contrast,
}
AUGMENT_TRANSFORMS = tuple(_TRANSFORMS)
