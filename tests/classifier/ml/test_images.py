import io

import numpy as np
import pytest
from PIL import Image

from classifier.ml.images import (
    CENTER_CROP,
    RESIZE_MODES,
    STRETCH,
    InvalidImage,
    load_array,
    load_model_input,
    load_rgb,
    resize_array,
)

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


def test_centre_crop_keeps_the_central_square_less_imagenets_margin():
    # 300 x 200: the centre crop is 224/256 of the 200 px side, 175 px wide, from x = 63 to 238; the
    # stretch keeps everything, the blue sides included.
    pixels = np.zeros((200, 300, 3), dtype=np.uint8)
    pixels[:, :, 2] = 255
    pixels[:, 62:239] = (255, 0, 0)
    photo = encoded(Image.fromarray(pixels))

    cropped = load_array(photo, 224, CENTER_CROP)
    stretched = load_array(photo, 224, STRETCH)

    assert cropped.shape == stretched.shape == (224, 224, 3)
    assert (cropped[:, :, 0] > 250).all() and (cropped[:, :, 2] < 5).all()
    assert (stretched[:, :5, 2] > 250).all() and (stretched[:, -5:, 2] > 250).all()


def test_an_unknown_resize_mode_is_refused():
    with pytest.raises(ValueError, match="unknown resize mode"):
        load_array(encoded(Image.new("RGB", (8, 8))), 4, "squash")


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


def _photo(width: int, height: int) -> Image.Image:
    """A smooth photo-like picture (JPEG-friendly gradients and a disc), not flat colour."""
    from skimage import data

    return Image.fromarray(data.chelsea()).resize((width, height), Image.Resampling.BICUBIC)


@pytest.mark.parametrize("resize", RESIZE_MODES)
def test_a_big_jpeg_reduced_while_decoding_gives_the_full_decodes_model_input(resize):
    content = encoded(_photo(1900, 1500), "JPEG", quality=90)
    with Image.open(io.BytesIO(content)) as opened:
        opened.draft("RGB", (64, 64))
        assert opened.size != (1900, 1500), "the decoder scales this JPEG"
    full = load_array(content, 32, resize).astype(int)
    reduced = load_model_input(content, 32, resize).astype(int)
    assert reduced.shape == full.shape == (32, 32, 3)
    # Within a grey level or so on average: the same picture, the crop cut at the same place.
    assert np.abs(full - reduced).mean() < 1.5


def test_a_rotated_big_jpeg_is_upright_when_reduced():
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    content = encoded(_photo(1600, 800), "JPEG", exif=exif)
    full = load_array(content, 32, CENTER_CROP).astype(int)
    assert np.abs(full - load_model_input(content, 32, CENTER_CROP).astype(int)).mean() < 1.5


@pytest.mark.parametrize("resize", RESIZE_MODES)
def test_small_jpegs_and_other_formats_decode_exactly_as_load_array(resize):
    for content in (encoded(_photo(90, 60), "JPEG"), encoded(_photo(900, 600), "PNG")):
        np.testing.assert_array_equal(load_model_input(content, 32, resize), load_array(content, 32, resize))


def test_reduced_decoding_refuses_what_load_array_refuses():
    truncated = encoded(_photo(900, 600), "JPEG")[:2000]
    for content in (b"not an image", truncated):
        with pytest.raises(InvalidImage):
            load_model_input(content, 32)
