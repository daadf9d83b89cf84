import numpy as np
import pytest
from PIL import Image

from classifier.ml.augment import AUGMENT_TRANSFORMS, augment_image, plan_augmentation


@pytest.fixture
def photo():
    # A gradient with a bright block: every transform visibly moves or changes something.
    pixels = np.zeros((48, 64, 3), dtype=np.uint8)
    pixels[..., 0] = np.linspace(0, 255, 64, dtype=np.uint8)
    pixels[..., 1] = np.linspace(0, 200, 48, dtype=np.uint8)[:, None]
    pixels[10:20, 5:25] = 240
    return Image.fromarray(pixels)


@pytest.mark.parametrize("transform", AUGMENT_TRANSFORMS)
def test_every_transform_changes_the_image_and_keeps_its_size(photo, transform):
    result = augment_image(photo, [transform], np.random.default_rng(0))
    assert result.size == photo.size
    assert result.mode == "RGB"
    assert not np.array_equal(np.asarray(result), np.asarray(photo))


def test_same_seed_gives_the_same_copy(photo):
    transforms = ["rotation", "zoom", "brightness"]
    first = augment_image(photo, transforms, np.random.default_rng(7))
    second = augment_image(photo, transforms, np.random.default_rng(7))
    other = augment_image(photo, transforms, np.random.default_rng(8))
    assert np.array_equal(np.asarray(first), np.asarray(second))
    assert not np.array_equal(np.asarray(first), np.asarray(other))


def test_flip_mirrors(photo):
    flipped = augment_image(photo, ["flip"], np.random.default_rng(0))
    np.testing.assert_array_equal(np.asarray(flipped), np.asarray(photo)[:, ::-1])


def test_non_rgb_input_comes_back_rgb():
    greyscale = Image.new("L", (20, 20), 100)
    assert augment_image(greyscale, ["rotation"], np.random.default_rng(0)).mode == "RGB"


def test_unknown_transform_is_named():
    with pytest.raises(ValueError, match="'blur'"):
        augment_image(Image.new("RGB", (8, 8)), ["flip", "blur"], np.random.default_rng(0))
    with pytest.raises(ValueError, match="at least one"):
        augment_image(Image.new("RGB", (8, 8)), [], np.random.default_rng(0))


def test_plan_tops_up_to_the_largest_class_by_default():
    assert plan_augmentation({"sparrow": 40, "robin": 25, "owl": 3}) == {"sparrow": 0, "robin": 15, "owl": 37}


def test_plan_with_explicit_target_and_empty_class():
    plan = plan_augmentation({"sparrow": 40, "robin": 25, "empty": 0}, target_per_class=30)
    assert plan == {"sparrow": 0, "robin": 5, "empty": 0}
    with pytest.raises(ValueError, match="target_per_class"):
        plan_augmentation({"robin": 1}, target_per_class=0)
