"""Pictures for the near-duplicate tests: structured synthetic photos (a smooth colour field with blocks
on it, so the perceptual hash has something to see) and the issue's near-copies of them; hashes of alike
pictures; a dataset whose groups leak between splits.

Measured for seeds 0-39: near-copies are at most 35 bits from their photo, distinct photos at least 61
bits apart, around the default threshold of 57.
"""

import io

import numpy as np
from PIL import Image

from classifier.models import Dataset, DatasetImage
from classifier.services.images import image_add
from tests.factories import DatasetFactory

THRESHOLD = 57


def photo(seed: int, size: int = 160) -> Image.Image:
    rng = np.random.default_rng(seed)
    field = rng.normal(0, 1, (4, 4, 3))
    base = Image.fromarray(np.uint8(np.clip(128 + 60 * field, 0, 255))).resize((size, size), Image.Resampling.BICUBIC)
    pixels = np.asarray(base).copy()
    for _ in range(8):
        left, top = rng.integers(0, size - 40, 2)
        width, height = rng.integers(15, 60, 2)
        pixels[top : top + height, left : left + width] = rng.integers(0, 256, 3)
    return Image.fromarray(pixels)


def encoded(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def near_copies(image: Image.Image) -> dict[str, bytes]:
    """The issue's changes, one each, encoded as a user would upload them."""
    width, height = image.size
    return {
        "resized": encoded(image.resize((width // 2, height // 2), Image.Resampling.BILINEAR)),
        "jpeg30": encoded(image, "JPEG", quality=30),
        "cropped": encoded(image.crop((int(width * 0.05), int(height * 0.05), int(width * 0.95), int(height * 0.95)))),
        "rotated": encoded(image.rotate(4, resample=Image.Resampling.BILINEAR)),
    }


def add(dataset: Dataset, content: bytes, name: str, label: str | None = "cat") -> DatasetImage:
    return image_add(dataset=dataset, content=content, filename=name, label_name=label, origin="upload")


def add_photo(dataset: Dataset, seed: int, label: str | None = "cat", split: str | None = None) -> DatasetImage:
    """Photo ``seed`` stored as an upload, moved to ``split`` when given (as a leak would have put it)."""
    image = add(dataset, encoded(photo(seed)), f"photo{seed}.png", label)
    if split is not None:
        DatasetImage.objects.filter(id=image.id).update(split=split)
        image.split = split
    return image


def add_copy(dataset: Dataset, seed: int, change: str = "jpeg30", label: str | None = "cat") -> DatasetImage:
    return add(dataset, near_copies(photo(seed))[change], f"photo{seed}-{change}.png", label)


def alike_hashes(count: int, seed: int = 0) -> list[str]:
    """Hashes of pictures alike by nature (digits, one product on one background): each about 36 bits from
    every other, within the threshold, though no two are copies of each other."""
    rng = np.random.default_rng(seed)
    base = int.from_bytes(rng.bytes(24), "big")
    hashes = []
    for _ in range(count):
        value = base
        for bit in rng.choice(192, size=18, replace=False):
            value ^= 1 << int(bit)
        hashes.append(f"{value:048x}")
    return hashes


def leaky_dataset():
    """Two groups: photo 1 (train, oldest) with a copy in test, photo 2 all in val; photo 3 alone."""
    dataset = DatasetFactory()
    first = add_photo(dataset, 1, split="train")
    leaked = add_copy(dataset, 1, "jpeg30")
    DatasetImage.objects.filter(id=leaked.id).update(split="test")
    add_photo(dataset, 2, split="val")
    add_copy(dataset, 2, "resized")
    add_photo(dataset, 3)
    return dataset, first, leaked
