import io

import numpy as np
import pytest
from PIL import Image

from classifier.ml.images import InvalidImage, load_array, load_rgb, resize_array

EXIF_ORIENTATION = 0x0112


def encoded(image: Image.Image, format: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def test_exif_rotation_is_applied():
    # Stored landscape 40x20 with "rotate 90 CW" in EXIF: a viewer shows it 20 wide, 40 high.
    image = Image.new("RGB", (40, 20), (10, 200, 30))
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    loaded = load_rgb(encoded(image, "JPEG", exif=exif))
    assert loaded.size == (20, 40)
    assert loaded.mode == "RGB"


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (Image.new("L", (8, 8), 77), (77, 77, 77)),
        (Image.new("CMYK", (8, 8), (0, 0, 0, 0)), (255, 255, 255)),
        (Image.new("RGBA", (8, 8), (200, 0, 0, 0)), (255, 255, 255)),
        (Image.new("RGBA", (8, 8), (200, 0, 0, 255)), (200, 0, 0)),
        (Image.new("LA", (8, 8), (30, 255)), (30, 30, 30)),
    ],
    ids=["greyscale", "cmyk", "transparent", "opaque-rgba", "greyscale-alpha"],
)
def test_modes_become_rgb(image, expected):
    array = load_array(encoded(image, "TIFF" if image.mode == "CMYK" else "PNG"))
    assert array.dtype == np.uint8
    assert array.shape == (8, 8, 3)
    assert tuple(array[0, 0]) == expected


def test_transparent_palette_pixels_become_white():
    image = Image.new("P", (8, 8), 1)
    image.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    array = load_array(encoded(image, transparency=1))
    assert tuple(array[0, 0]) == (255, 255, 255)


def test_sixteen_bit_greyscale_is_scaled_not_clipped():
    image = Image.fromarray(np.full((4, 4), 32896, dtype=np.uint16))
    array = load_array(encoded(image))
    assert tuple(array[0, 0]) == (128, 128, 128)


def test_load_resizes_to_a_square_and_reads_paths(tmp_path):
    path = tmp_path / "wide.png"
    Image.new("RGB", (64, 16), (0, 0, 255)).save(path)
    array = load_array(path, size=32)
    assert array.shape == (32, 32, 3)
    assert tuple(array[16, 16]) == (0, 0, 255)


def test_resize_array_matches_load_array():
    pixels = np.random.default_rng(0).integers(0, 256, (30, 50, 3), dtype=np.uint8)
    from_file = load_array(encoded(Image.fromarray(pixels)), size=24)
    np.testing.assert_array_equal(resize_array(pixels, 24), from_file)


def test_garbage_and_truncated_files_raise_invalid_image():
    with pytest.raises(InvalidImage):
        load_rgb(b"not an image")
    truncated = encoded(Image.new("RGB", (64, 64), (1, 2, 3)), "JPEG")[:200]
    with pytest.raises(InvalidImage):
        load_rgb(truncated)


def test_decompression_bombs_are_invalid_images(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(InvalidImage, match="pixels"):
        load_rgb(encoded(Image.new("RGB", (40, 40))))
