"""Decode any image a user may upload into the RGB uint8 array the models expect.

Training, batch inference and the web tier's TFLite predictions all go through `load_rgb` and
`resize_square`, so a model sees the same pixels at serving time as it saw in training. Pillow and
numpy only: the web tier imports this module.
"""

from __future__ import annotations

import io
import os
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

ImageSource = bytes | str | os.PathLike[str] | BinaryIO

# Transparent pixels become white, the background most viewers show them on; Pillow's plain
# RGBA -> RGB conversion would keep whatever colour the invisible pixels happen to hold.
_BACKGROUND = (255, 255, 255)
_SIXTEEN_BIT_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N"}


class InvalidImage(ValueError):
    """The data is not an image Pillow can decode, is truncated, or is over Image.MAX_IMAGE_PIXELS."""


def load_rgb(source: ImageSource) -> Image.Image:
    """Open bytes, a path or a binary file, apply its EXIF orientation and return it as RGB."""
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    try:
        with Image.open(source) as opened:
            # Decode now, inside the try: Pillow is lazy and a truncated file fails only here.
            opened.load()
            image = ImageOps.exif_transpose(opened)
            return to_rgb(image)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError) as error:
        raise InvalidImage(f"cannot decode image: {error}") from error


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert greyscale, 16-bit, palette, transparent and CMYK images to plain RGB."""
    if image.mode == "RGB":
        return image
    if image.mode in _SIXTEEN_BIT_MODES:
        # Pillow's own conversion clips 16-bit values at 255, which turns most of a 16-bit
        # greyscale scan white; scale the full range down instead.
        scaled = np.clip(np.round(np.asarray(image, dtype=np.float64) / 257.0), 0, 255)
        return Image.fromarray(scaled.astype(np.uint8)).convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def resize_square(image: Image.Image, size: int) -> Image.Image:
    """Stretch to size x size with bilinear filtering: no crop, so nothing at the edges is lost."""
    if image.size == (size, size):
        return image
    return image.resize((size, size), Image.Resampling.BILINEAR)


def load_array(source: ImageSource, size: int | None = None) -> np.ndarray:
    """Decode `source` to an RGB uint8 array (h, w, 3), resized to (size, size, 3) when given."""
    image = load_rgb(source)
    if size is not None:
        image = resize_square(image, size)
    return np.asarray(image, dtype=np.uint8)


def resize_array(array: np.ndarray, size: int) -> np.ndarray:
    """Resize an RGB uint8 array exactly as `load_array` would have."""
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected an RGB array of shape (h, w, 3), got {array.shape}")
    if array.shape[:2] == (size, size):
        return np.asarray(array, dtype=np.uint8)
    image = Image.fromarray(np.asarray(array, dtype=np.uint8))
    return np.asarray(resize_square(image, size), dtype=np.uint8)
