"""image_check and thumbnail_bytes: which bytes become images, and what users are told about the rest."""

import hashlib
import io
import random
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from classifier.ml.images import CENTER_CROP, STRETCH
from classifier.ml.predictor import prepare_image
from classifier.services.imaging import ImageRejected, image_check, image_check_pixels, thumbnail_bytes
from tests.factories import image_bytes
from webapp.units import human_bytes


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def noisy_jpeg(size=(256, 256), seed=0) -> bytes:
    """A JPEG whose entropy-coded data is long, so cutting it leaves the header intact."""
    rng = random.Random(seed)
    return _encode(Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3)), "JPEG")


def png_encode(width: int, height: int, rows: bytes, *, interlace: bool = False) -> bytes:
    """An 8-bit RGB PNG of ``width`` x ``height`` whose compressed data is ``rows``, whatever its length."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, int(interlace))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares ``width`` x ``height`` but whose data is 64 bytes: a bomb if decoded."""
    return png_encode(width, height, b"\0" * 64)


def rotated_jpeg() -> bytes:
    """A 40x20 JPEG, left half red, whose EXIF says to turn it a quarter clockwise (orientation 6)."""
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    return _encode(image, "JPEG", exif=exif.tobytes())


def mode_samples() -> dict[str, bytes]:
    """Everyday inputs that are not plain RGB."""
    palette = Image.new("RGB", (24, 16), (10, 200, 10)).convert("P", palette=Image.Palette.ADAPTIVE)
    transparent = Image.new("RGBA", (24, 16), (255, 0, 0, 0))
    transparent.putpixel((0, 0), (255, 0, 0, 255))
    return {
        "grey.png": _encode(Image.new("L", (24, 16), 128), "PNG"),
        "grey16.png": _encode(Image.new("I;16", (24, 16), 40000), "PNG"),
        "palette.gif": _encode(palette, "GIF"),
        "transparent.png": _encode(transparent, "PNG"),
        "print.jpg": _encode(Image.new("CMYK", (24, 16), (0, 255, 255, 0)), "JPEG"),
        "scan.tif": _encode(Image.new("RGB", (24, 16), (1, 2, 3)), "TIFF"),
        "photo.webp": _encode(Image.new("RGB", (24, 16), (1, 2, 3)), "WEBP"),
        "icon.bmp": _encode(Image.new("RGB", (24, 16), (1, 2, 3)), "BMP"),
    }


def _rejection(content: bytes, filename: str) -> ImageRejected:
    with pytest.raises(ImageRejected) as caught:
        image_check(content=content, filename=filename)
    return caught.value


def test_image_check_returns_size_hash_and_format():
    content = image_bytes(size=(32, 24))

    checked = image_check(content=content, filename="robin.jpg")

    assert checked.content == content
    assert checked.sha256 == hashlib.sha256(content).hexdigest()
    assert (checked.width, checked.height) == (32, 24)
    assert (checked.format, checked.extension) == ("JPEG", "jpg")


def test_stored_extension_follows_the_real_format_not_the_name():
    checked = image_check(content=image_bytes(fmt="PNG"), filename="really-a-png.jpg")

    assert (checked.format, checked.extension) == ("PNG", "png")


@pytest.mark.parametrize("filename", sorted(mode_samples()))
def test_non_rgb_images_are_accepted_and_thumbnail_as_rgb_jpeg(filename):
    content = mode_samples()[filename]

    checked = image_check(content=content, filename=filename)
    thumbnail = Image.open(io.BytesIO(thumbnail_bytes(content)))

    assert (checked.width, checked.height) == (24, 16)
    assert (thumbnail.format, thumbnail.mode, thumbnail.size) == ("JPEG", "RGB", (24, 16))


def test_transparent_areas_of_a_thumbnail_are_white():
    thumbnail = Image.open(io.BytesIO(thumbnail_bytes(mode_samples()["transparent.png"])))

    assert all(channel > 240 for channel in thumbnail.getpixel((20, 10)))


def test_exif_rotation_swaps_the_size_and_turns_the_thumbnail_upright():
    content = rotated_jpeg()

    checked = image_check(content=content, filename="phone.jpg")
    thumbnail = Image.open(io.BytesIO(thumbnail_bytes(content)))

    assert (checked.width, checked.height) == (20, 40)
    assert thumbnail.size == (20, 40)
    # Turned a quarter clockwise, the red left half ends up on top.
    red, green, blue = thumbnail.getpixel((10, 5))
    assert red > 200 and blue < 60


def test_thumbnail_fits_in_the_requested_square():
    thumbnail = Image.open(io.BytesIO(thumbnail_bytes(noisy_jpeg(size=(600, 300)), size=100)))

    assert thumbnail.size == (100, 50)


def test_truncated_jpeg_is_corrupt():
    content = noisy_jpeg()

    rejection = _rejection(content[: len(content) * 2 // 3], "cut.jpg")

    assert rejection.reason == "corrupt"
    assert rejection.detail.startswith("cut.jpg is damaged or truncated: image file is truncated")


def test_png_with_a_bad_checksum_is_corrupt():
    content = bytearray(image_bytes(fmt="PNG"))
    idat = content.index(b"IDAT")
    content[idat + 6] ^= 0xFF  # flip bits inside the compressed pixels

    rejection = _rejection(bytes(content), "flipped.png")

    assert rejection.reason == "corrupt"
    assert rejection.detail.startswith("flipped.png is damaged")


def test_text_named_jpg_is_not_an_image():
    rejection = _rejection(b"just some notes, not a photo\n", "notes.jpg")

    assert rejection.reason == "not_image"
    assert rejection.detail == "notes.jpg is not an image Sightline can read (JPEG, PNG, GIF, BMP, WebP or TIFF)."


def test_formats_outside_the_accepted_list_are_not_images():
    # Pillow reads PPM, but Sightline keeps to the decoders ordinary photos need.
    rejection = _rejection(_encode(Image.new("RGB", (8, 8)), "PPM"), "frame.ppm")

    assert rejection.reason == "not_image"


def test_empty_file_is_not_an_image():
    rejection = _rejection(b"", "empty.jpg")

    assert (rejection.reason, rejection.detail) == ("not_image", "empty.jpg is empty.")


@pytest.mark.parametrize("resize", [STRETCH, CENTER_CROP])
def test_checked_pixels_are_the_pixels_a_model_is_served(resize):
    # Batch predictions check and decode each file once; a model must see what a single prediction sees.
    samples = {**mode_samples(), "rotated.jpg": rotated_jpeg(), "photo.jpg": noisy_jpeg(size=(300, 200))}

    for filename, content in samples.items():
        pixels = image_check_pixels(content=content, filename=filename, size=24, resize=resize)

        assert pixels.dtype == np.uint8 and pixels.shape == (24, 24, 3), filename
        np.testing.assert_array_equal(pixels, prepare_image(content, 24, resize), err_msg=filename)


def test_checked_pixels_refuse_what_the_check_refuses():
    photo = noisy_jpeg()
    refused = {
        "cut.jpg": photo[: len(photo) * 2 // 3],
        "notes.jpg": b"just some notes, not a photo\n",
        "empty.jpg": b"",
        "frame.ppm": _encode(Image.new("RGB", (8, 8)), "PPM"),
    }

    for filename, content in refused.items():
        with pytest.raises(ImageRejected) as caught:
            image_check_pixels(content=content, filename=filename, size=24)
        expected = _rejection(content, filename)
        assert (caught.value.reason, caught.value.detail) == (expected.reason, expected.detail)


def test_file_over_the_byte_limit_is_too_large(settings):
    settings.SIGHTLINE_MAX_IMAGE_BYTES = 100
    content = image_bytes()

    rejection = _rejection(content, "big.jpg")

    assert rejection.reason == "too_large"
    assert rejection.detail == f"big.jpg is {human_bytes(len(content))}; the limit is 100 bytes."


def test_header_declaring_more_pixels_than_the_limit_is_too_large_without_decoding():
    # 8000 x 8000 is under Pillow's own bomb limit but over Sightline's 40 megapixels. Its pixel
    # data is a few bytes, so decoding it would fail as "corrupt": "too_large" proves it was never
    # decoded.
    rejection = _rejection(png_header_only(8000, 8000), "huge.png")

    assert rejection.reason == "too_large"
    assert rejection.detail == "huge.png is 8000x8000 pixels (64.0 megapixels); the limit is 40.0 megapixels."


def test_png_whose_pixel_data_is_shorter_than_its_header_declares_is_truncated():
    # 64 bytes of data for 1 x 100,000 pixels: Pillow's decoder stops where the data ends and would
    # hand back a tall black image.
    rejection = _rejection(png_header_only(1, 100_000), "tall.png")

    assert rejection.reason == "corrupt"
    assert rejection.detail == (
        "tall.png is damaged or truncated: its pixel data ends after 64 of the 400,000 bytes its header declares."
    )


def test_interlaced_png_is_accepted_whole_and_refused_short():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (9, 13, 3), dtype=np.uint8)
    # Pillow cannot write Adam7 PNGs: each of the seven passes, row by row, unfiltered.
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    rows = b"".join(b"\0" + row.tobytes() for x, y, dx, dy in passes for row in pixels[y::dy, x::dx] if row.size)

    whole = image_check(content=png_encode(13, 9, rows, interlace=True), filename="whole.png")

    assert (whole.width, whole.height) == (13, 9)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(whole.content))), pixels)
    rejection = _rejection(png_encode(13, 9, rows[:-40], interlace=True), "short.png")
    assert (rejection.reason, rejection.detail.startswith("short.png is damaged or truncated")) == ("corrupt", True)


def test_decompression_bomb_is_too_large():
    rejection = _rejection(png_header_only(100_000, 100_000), "bomb.png")

    assert rejection.reason == "too_large"
    assert rejection.detail == (
        "bomb.png declares far more pixels than the limit of 40.0 megapixels (a possible decompression bomb)."
    )


def test_pixel_limit_follows_the_setting(settings):
    settings.SIGHTLINE_MAX_IMAGE_PIXELS = 1_000_000

    rejection = _rejection(image_bytes(size=(1200, 1000)), "wide.jpg")

    assert rejection.reason == "too_large"
    assert rejection.detail == "wide.jpg is 1200x1000 pixels (1.2 megapixels); the limit is 1.0 megapixels."


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 bytes"),
        (1023, "1023 bytes"),
        (1536, "1.5 KB"),
        (20 * 1024**2, "20.0 MB"),
        (8 * 1024**3, "8.0 GB"),
    ],
)
def test_human_bytes(size, text):
    assert human_bytes(size) == text
