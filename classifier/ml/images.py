"""Decode any image a user may upload into the RGB uint8 array the models expect.

Training, batch inference and the web tier's TFLite predictions all go through `load_rgb` and then
`resize_for_model` in the version's resize mode, so a model sees the same pixels at serving time as it
saw in training: `STRETCH` for every version trained here, `CENTER_CROP` for the ready ImageNet models,
whose published weights were trained and evaluated on centre crops. Pillow and numpy only: the web
tier imports this module.
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

# How an image becomes a model's square input (a version records its mode; STRETCH when it does not).
STRETCH = "bilinear-stretch"
CENTER_CROP = "bicubic-center-crop"
RESIZE_MODES = (STRETCH, CENTER_CROP)
# ImageNet evaluation's crop (TensorFlow TPU models' preprocessing.py, which the EfficientNet-Lite
# weights were evaluated with): the central square of the shorter side less a margin, 224 of 256 px.
IMAGENET_CROP_FRACTION = 0.875
# load_model_input decodes a JPEG no smaller than this many times the model's input (see there).
DRAFT_MARGIN = 2


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


def center_crop_square(image: Image.Image, size: int, *, scale: float = 1.0) -> Image.Image:
    """The central square ImageNet evaluation takes, resized to size x size with bicubic filtering.

    Its side is `size / (size + padding)` of the shorter side, the padding being `IMAGENET_CROP_FRACTION`'s
    margin rounded to whole pixels at `size`, exactly as upstream computes it; edges are lost. `scale`:
    the image was decoded at 1/scale of its size (`load_model_input`), so the square is measured on the
    full-size picture and cut from this one at the same place.
    """
    width, height = round(image.width * scale), round(image.height * scale)
    padding = round(size * (1 / IMAGENET_CROP_FRACTION - 1))
    side = max(1, int(size / (size + padding) * min(width, height)))
    left, top = (width - side + 1) // 2, (height - side + 1) // 2
    box = (left / scale, top / scale, (left + side) / scale, (top + side) / scale)
    return image.resize((size, size), Image.Resampling.BICUBIC, box=box)


def resize_for_model(image: Image.Image, size: int, resize: str = STRETCH) -> Image.Image:
    """`image` as a size x size model input, in one of `RESIZE_MODES`."""
    if resize == STRETCH:
        return resize_square(image, size)
    if resize == CENTER_CROP:
        return center_crop_square(image, size)
    raise ValueError(f"unknown resize mode {resize!r}; choose one of: {', '.join(RESIZE_MODES)}")


def load_array(source: ImageSource, size: int | None = None, resize: str = STRETCH) -> np.ndarray:
    """Decode `source` to an RGB uint8 array (h, w, 3), resized to (size, size, 3) when given."""
    image = load_rgb(source)
    if size is not None:
        image = resize_for_model(image, size, resize)
    return np.asarray(image, dtype=np.uint8)


def load_model_input(data: bytes, size: int, resize: str = STRETCH) -> np.ndarray:
    """`load_array(data, size, resize)`, with a big JPEG decoded at 1/2, 1/4 or 1/8 of its size.

    A phone photo's full decode takes most of a prediction's time (~250 ms for 12 megapixels here, ~40 ms
    reduced); the JPEG decoder scales while decoding (Pillow's draft). It stops at twice the model's input
    or more, as Pillow's thumbnail() does, so the resize that follows still averages several pixels: the
    model's input differs from a full decode's by a fraction of a grey level, the centre crop cut at the
    same place (`center_crop_square`'s scale). Other formats and smaller JPEGs decode as `load_array`.
    """
    try:
        with Image.open(io.BytesIO(data)) as opened:
            full_width = opened.width
            opened.draft("RGB", (size * DRAFT_MARGIN, size * DRAFT_MARGIN))
            scale = full_width / opened.width
            opened.load()
            image = to_rgb(ImageOps.exif_transpose(opened))
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError) as error:
        raise InvalidImage(f"cannot decode image: {error}") from error
    if resize == CENTER_CROP:
        return np.asarray(center_crop_square(image, size, scale=scale), dtype=np.uint8)
    return np.asarray(resize_for_model(image, size, resize), dtype=np.uint8)


def resize_array(array: np.ndarray, size: int) -> np.ndarray:
    """Resize an RGB uint8 array exactly as `load_array` would have."""
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected an RGB array of shape (h, w, 3), got {array.shape}")
    if array.shape[:2] == (size, size):
        return np.asarray(array, dtype=np.uint8)
    image = Image.fromarray(np.asarray(array, dtype=np.uint8))
    return np.asarray(resize_square(image, size), dtype=np.uint8)
