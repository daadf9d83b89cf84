"""Decide whether untrusted bytes are an image Sightline can keep, and make its thumbnail.

Pure Pillow, no database: uploads, imports and augmentation all pass through ``image_check`` so every
stored image has been fully decoded once and fits the size limits in settings.
"""

import hashlib
import io
from dataclasses import dataclass

from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

from classifier.ml.images import to_rgb

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


def human_size(size: int) -> str:
    """``1536`` → ``"1.5 KB"``: sizes in messages users read."""
    if size < 1024:
        return f"{size} bytes"
    value = float(size)
    for unit in ("KB", "MB", "GB"):
        value /= 1024
        if value < 1024 or unit == "GB":
            break
    return f"{value:.1f} {unit}"


def image_size_check(*, size: int, filename: str) -> None:
    """Refuse a file over the byte limit from its size alone, before anyone reads it into memory."""
    max_bytes = settings.SIGHTLINE_MAX_IMAGE_BYTES
    if size > max_bytes:
        raise ImageRejected("too_large", f"{filename} is {human_size(size)}; the limit is {human_size(max_bytes)}.")


def image_check(*, content: bytes, filename: str) -> CheckedImage:
    """Accept ``content`` as an image or raise ``ImageRejected`` saying why not.

    Cheap checks come first (byte size, then the pixel count the header declares) so a hostile
    file is refused before Pillow allocates memory for it; only then is it decoded in full, because
    Pillow is lazy and a truncated file fails only when its pixels are read.
    """
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
            orientation = image.getexif().get(_EXIF_ORIENTATION_TAG)
        except Exception as error:
            # Pillow's decoders raise OSError, SyntaxError, ValueError, EOFError, zlib.error... on
            # bad data; every one of them means the pixels (or the metadata) cannot be read.
            detail = f"{filename} is damaged or truncated: {_sentence(error)}."
            raise ImageRejected("corrupt", detail) from None
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
    )


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
