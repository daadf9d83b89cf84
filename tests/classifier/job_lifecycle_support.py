"""Colour datasets and stored-file listings shared by the job lifecycle tests."""

import io

import numpy as np
from PIL import Image

from classifier.models import Dataset
from classifier.services.images import image_add
from tests.factories import DatasetFactory
from webapp.storage import stored_names


def noisy_png(color, seed, size=32) -> bytes:
    noise = np.random.default_rng(seed).integers(0, 40, (size, size, 3))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(np.array(color) + noise, 0, 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def colours_dataset(owner, name="colours", count=12) -> Dataset:
    dataset = DatasetFactory(owner=owner, name=name)
    for index in range(count):
        for label, color, offset in (("red", (220, 20, 20), 0), ("blue", (20, 20, 220), 100)):
            image_add(dataset=dataset, content=noisy_png(color, offset + index), filename=f"{label}{index}.png",
                      label_name=label, origin="upload")
    return dataset


def stored_files() -> list[str]:
    return sorted(stored_names())
