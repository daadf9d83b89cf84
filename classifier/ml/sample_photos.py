"""Real photos available offline, from Python packages: ImageNet-labelled ones for measuring the ready
ImageNet models (bench/imagenet_models.py, the installer's int8 check), and crops of them for calibrating
int8 models, which need typical pictures but no labels.

scikit-image, scikit-learn and matplotlib ship them (requirements-dev.txt); where none is installed there
are simply no photos, and callers say so.
"""

from __future__ import annotations

import importlib.resources
from importlib.resources.abc import Traversable
from pathlib import Path

import numpy as np

from classifier.ml.images import CENTER_CROP, load_array, load_rgb

# Sample photo → the ImageNet class indices that count as a right top-1 answer (empty: no class fits).
SKIMAGE = {
    "chelsea.png": {281, 282, 285},  # tabby, tiger cat, Egyptian cat
    "coffee.png": {967, 968},  # espresso, cup
    "rocket.jpg": {657, 744},  # missile, projectile
    "motorcycle_left.png": {665, 670},  # moped, motor scooter: ImageNet has no motorcycle
    "camera.png": {759, 872},  # reflex camera, tripod
    "astronaut.png": set(),  # a space suit: no ImageNet class
}
SKLEARN = {"china.jpg": {663, 698, 832}, "flower.jpg": {985}}  # monastery, palace, stupa; daisy
MATPLOTLIB = {"grace_hopper.jpg": {652}}  # military uniform
# Unlabelled photos that widen the calibration set (scikit-image's), beside the labelled ones.
SKIMAGE_EXTRA = ("hubble_deep_field.jpg", "ihc.png", "motorcycle_right.png", "retina.jpg", "grass.png", "brick.png")
CROPS_PER_PHOTO = 12


def labelled_photos() -> list[tuple[str, bytes, set[int]]]:
    """(file name, encoded photo, right ImageNet classes) for each sample photo whose package is installed."""
    found = []
    for package, table in (("skimage.data", SKIMAGE), ("sklearn.datasets.images", SKLEARN)):
        folder = _package_folder(package)
        if folder is not None:
            found += [(name, (folder / name).read_bytes(), right) for name, right in table.items()]
    try:
        from matplotlib import cbook
    except ImportError:
        return found
    found += [
        (name, Path(cbook.get_sample_data(name, asfileobj=False)).read_bytes(), right)
        for name, right in MATPLOTLIB.items()
    ]
    return found


def calibration_photos(size: int, *, crops_per_photo: int = CROPS_PER_PHOTO, seed: int = 0) -> np.ndarray:
    """(n, size, size, 3) uint8: each available photo centre-cropped as the ImageNet models see it, and
    random square crops of it (40-100% of the shorter side) for the scale and framing variety real
    requests have. Empty (n = 0) when no photo package is installed."""
    rng = np.random.default_rng(seed)
    photos = [data for _name, data, _right in labelled_photos()]
    folder = _package_folder("skimage.data")
    if folder is not None:
        photos += [(folder / name).read_bytes() for name in SKIMAGE_EXTRA if (folder / name).is_file()]
    pixels = []
    for data in photos:
        pixels.append(load_array(data, size, CENTER_CROP))
        image = load_rgb(data)
        for _ in range(crops_per_photo):
            side = int(min(image.size) * rng.uniform(0.4, 1.0))
            left = int(rng.integers(0, image.width - side + 1))
            top = int(rng.integers(0, image.height - side + 1))
            crop = image.crop((left, top, left + side, top + side)).resize((size, size))
            pixels.append(np.asarray(crop, dtype=np.uint8))
    return np.stack(pixels) if pixels else np.zeros((0, size, size, 3), np.uint8)


def _package_folder(package: str) -> Traversable | None:
    try:
        return importlib.resources.files(package)
    except ModuleNotFoundError:
        return None
