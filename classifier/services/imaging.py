"""Decide whether untrusted bytes are an image Sightline can keep, and make its thumbnail.

Pure Pillow, no database: uploads, imports and augmentation all pass through ``image_check`` so every
stored image has been fully decoded once and fits the size limits in settings.
"""

import hashlib
import io
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

from classifier.ml.images import STRETCH, resize_for_model, to_rgb
from classifier.ml.near_duplicates import perceptual_hash
from webapp.units import human_bytes

# The only decoders tried. Pillow can identify many more formats (EPS runs Ghostscript, for one);
# refusing them keeps the attack surface to the decoders ordinary photos need.
_OPEN_FORMATS = ["JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF"]
# The extension a stored file gets, from its real format rather than its name. The JPEG decoder
# reports MPO for what phone cameras write: a JPEG with extra frames.
_EXTENSIONS = {
    "JPEG": "jpg",
    "MPO": "jpg",
    "PNG": "png",
    "GIF": "gif",
    "BMP": "bmp",
    "WEBP": "webp",
    "TIFF": "tif",
}
_FORMAT_NAMES = "JPEG, PNG, GIF, BMP, WebP or TIFF"
# EXIF orientations that turn the picture a quarter turn, so width and height swap on display.
_QUARTER_TURN_ORIENTATIONS = {5, 6, 7, 8}
_EXIF_ORIENTATION_TAG = 0x0112


class ImageRejected(Exception):
    """A file that will not be stored. ``reason`` is a short code the reports count ("corrupt",
    "not_image", "too_large"; the services add "duplicate" and others); ``detail`` tells the user
    what is wrong with which file."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class CheckedImage:
    content: bytes
    sha256: str
    width: int
    height: int
    format: str
    extension: str
    # Hex (classifier.ml.near_duplicates); "" where the check was made for work that stores nothing.
    perceptual_hash: str = ""


def image_size_check(*, size: int, filename: str) -> None:
    """Refuse a file over the byte limit from its size alone, before anyone reads it into memory."""
    max_bytes = settings.SIGHTLINE_MAX_IMAGE_BYTES
    if size > max_bytes:
        raise ImageRejected("too_large", f"{filename} is {human_bytes(size)}; the limit is {human_bytes(max_bytes)}.")


def image_check(*, content: bytes, filename: str) -> CheckedImage:
    """Accept ``content`` as an image or raise ``ImageRejected`` saying why not.

    Cheap checks come first (byte size, then the pixel count the header declares) so a hostile
    file is refused before Pillow allocates memory for it; only then is it decoded in full, because
    Pillow is lazy and a truncated file fails only when its pixels are read.
    """
    with _checked_open(content=content, filename=filename) as image:
        return _checked_image(image, content, with_hash=True)


def _checked_image(image: Image.Image, content: bytes, *, with_hash: bool = False) -> CheckedImage:
    width, height = image.size
    orientation = image.getexif().get(_EXIF_ORIENTATION_TAG)
    if orientation in _QUARTER_TURN_ORIENTATIONS:
        width, height = height, width
    image_format = image.format or ""
    return CheckedImage(
        content=content,
        sha256=hashlib.sha256(content).hexdigest(),
        width=width,
        height=height,
        format=image_format,
        extension=_EXTENSIONS[image_format],
        # From the pixels just decoded: a stored image's near-duplicates are found without decoding it again.
        perceptual_hash=_perceptual_hash(image) if with_hash else "",
    )


def _perceptual_hash(image: Image.Image) -> str:
    try:
        return perceptual_hash(image)
    except (OSError, ValueError) as error:
        # Pixels that cannot be turned into RGB cannot be trained on either (as in ``_model_pixels``).
        raise ImageRejected("corrupt", f"The image is damaged: {_sentence(error)}.") from None


def image_check_pixels(*, content: bytes, filename: str, size: int, resize: str = STRETCH) -> np.ndarray:
    """``image_check``'s verdict and the model's (size, size, 3) uint8 input from one decode, for work
    that keeps no file (batch predictions): the same pixels as ``classifier.ml.images.load_array``.

    Raises ``ImageRejected`` as ``image_check`` does.
    """
    with _checked_open(content=content, filename=filename) as image:
        return _model_pixels(image, filename=filename, size=size, resize=resize)


def image_check_with_pixels(
    *, content: bytes, filename: str, size: int, resize: str = STRETCH
) -> tuple[CheckedImage, np.ndarray]:
    """``image_check``'s ``CheckedImage`` and ``image_check_pixels``' model input from one decode, for a
    prediction that keeps its image (the sync predict path: decoding twice cost a millisecond a request)."""
    with _checked_open(content=content, filename=filename) as image:
        return _checked_image(image, content), _model_pixels(image, filename=filename, size=size, resize=resize)


def _model_pixels(image: Image.Image, *, filename: str, size: int, resize: str) -> np.ndarray:
    try:
        # As load_rgb then resize_for_model do it, on the image already decoded for the check.
        upright = to_rgb(ImageOps.exif_transpose(image))
        return np.asarray(resize_for_model(upright, size, resize), dtype=np.uint8)
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageRejected("corrupt", f"{filename} is damaged: {_sentence(error)}.") from None


@contextmanager
def _checked_open(*, content: bytes, filename: str) -> Iterator[Image.Image]:
    """The image fully decoded and within the limits, else ``ImageRejected`` (see ``image_check``)."""
    image_size_check(size=len(content), filename=filename)
    if not content:
        raise ImageRejected("not_image", f"{filename} is empty.")
    try:
        image = Image.open(io.BytesIO(content), formats=_OPEN_FORMATS)
    except UnidentifiedImageError:
        raise ImageRejected("not_image", f"{filename} is not an image Sightline can read ({_FORMAT_NAMES}).") from None
    except Image.DecompressionBombError:
        raise ImageRejected(
            "too_large",
            f"{filename} declares far more pixels than the limit of "
            f"{_megapixels(settings.SIGHTLINE_MAX_IMAGE_PIXELS)} (a possible decompression bomb).",
        ) from None
    except Exception as error:
        # A plugin recognised the format, then choked on the header.
        raise ImageRejected("corrupt", f"{filename} is damaged: {_sentence(error)}.") from None

    with image:
        width, height = image.size
        max_pixels = settings.SIGHTLINE_MAX_IMAGE_PIXELS
        if width * height > max_pixels:
            raise ImageRejected(
                "too_large",
                f"{filename} is {width}x{height} pixels ({_megapixels(width * height)}); "
                f"the limit is {_megapixels(max_pixels)}.",
            )
        try:
            image.load()
            if image.format == "PNG":
                _png_data_complete_check(content)
            # Read here so damaged metadata is reported as damage; Pillow keeps it for later calls.
            image.getexif()
        except Exception as error:
            # Pillow's decoders raise OSError, SyntaxError, ValueError, EOFError, zlib.error... on
            # bad data; every one of them means the pixels (or the metadata) cannot be read.
            detail = f"{filename} is damaged or truncated: {_sentence(error)}."
            raise ImageRejected("corrupt", detail) from None
        yield image


# PNG colour type → samples per pixel (grey, RGB, palette, grey + alpha, RGBA).
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
# Adam7 interlacing: each pass's first column and row, then its column and row steps.
_ADAM7_PASSES = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_INFLATE_STEP = 1024 * 1024


def _png_data_complete_check(content: bytes) -> None:
    """Raise ``ValueError`` if the PNG's pixel data ends before the rows its header declares.

    Pillow's PNG decoder stops quietly where the compressed stream ends and leaves the missing rows
    black: a 64-byte file declaring 1x100,000 pixels would pass as a tall black image. The data is
    inflated again here, in steps and without keeping it, only to count its bytes.
    """
    width, height, bit_depth, colour_type, _compression, _filter, interlace = struct.unpack(">IIBBBBB", content[16:29])
    bits_per_pixel = bit_depth * _PNG_CHANNELS[colour_type]

    def scanlines(columns: int, rows: int) -> int:
        # Each row: one filter-type byte, then its pixels rounded up to whole bytes.
        return rows * (1 + (columns * bits_per_pixel + 7) // 8) if columns and rows else 0

    if interlace:
        expected = sum(
            scanlines(-(-max(width - x, 0) // dx), -(-max(height - y, 0) // dy)) for x, y, dx, dy in _ADAM7_PASSES
        )
    else:
        expected = scanlines(width, height)
    inflater = zlib.decompressobj()
    inflated = 0
    position = 8
    while position + 8 <= len(content) and inflated < expected:
        length, kind = struct.unpack(">I4s", content[position : position + 8])
        if kind == b"IDAT":
            pending = content[position + 8 : position + 8 + length]
            while pending and inflated < expected:
                inflated += len(inflater.decompress(pending, _INFLATE_STEP))
                pending = inflater.unconsumed_tail
        elif kind == b"IEND":
            break
        position += 12 + length
    if inflated < expected:
        raise ValueError(f"its pixel data ends after {inflated:,} of the {expected:,} bytes its header declares")


def thumbnail_bytes(content: bytes, *, size: int = 256) -> bytes:
    """A JPEG of at most ``size`` x ``size`` pixels, upright (EXIF applied) and in RGB, whatever the
    source's mode: the same RGB conversion the models use, so transparent areas show white."""
    with Image.open(io.BytesIO(content), formats=_OPEN_FORMATS) as image:
        # Lets the JPEG decoder scale down while decoding: big photos never decode at full size.
        image.draft("RGB", (size, size))
        upright = ImageOps.exif_transpose(image)
    thumbnail = to_rgb(upright)
    thumbnail.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    thumbnail.save(buffer, format="JPEG", quality=85, optimize=True)
    return buffer.getvalue()


def _sentence(error: Exception) -> str:
    return str(error).rstrip(".") or type(error).__name__


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1_000_000:.1f} megapixels"
