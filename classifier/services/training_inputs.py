"""What a training reads from rows and storage, in the forms ``classifier.ml`` takes: a split's images and
their labels in the version's class order, images as records that load through the storage API, the
version's configuration, and the worker's feature cache (shared with label-issue searches).
"""

import hashlib
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.core.files.storage import default_storage

from classifier.ml.config import TrainingConfig
from classifier.ml.features import DirectoryFeatureCache
from classifier.ml.images import load_array
from classifier.ml.training import ImageRecord
from classifier.models import DatasetImage, ModelVersion
from classifier.services.storage import stored_file_name


def image_records(images: list[DatasetImage]) -> list[ImageRecord]:
    """The images as ``ml`` records, each read from storage only when the training asks for its pixels."""

    def loader(name: str) -> Callable[[], npt.NDArray[np.uint8]]:
        def load() -> npt.NDArray[np.uint8]:
            with default_storage.open(name, "rb") as file:
                return load_array(file.read())

        return load

    return [ImageRecord(sha256=image.sha256, load=loader(stored_file_name(image.file))) for image in images]


def split_images(version: ModelVersion, split: str) -> tuple[list[DatasetImage], npt.NDArray[np.int64]]:
    """The split's labelled images of the version's classes, oldest first, and their class indices."""
    index = {name: i for i, name in enumerate(version.class_names)}
    images, labels = [], []
    for image in (
        DatasetImage.objects.filter(dataset=version.dataset, split=split, label__isnull=False)
        .select_related("label")
        .order_by("id")
    ):
        if image.label is not None and image.label.name in index:
            images.append(image)
            labels.append(index[image.label.name])
    return images, np.array(labels, dtype=np.int64)


def test_set_digest(images: list[DatasetImage]) -> dict[str, int | str]:
    """The test images' size and a digest of their contents and labels: two versions with the same digest
    were scored on the same pictures with the same answers, so their scores compare."""
    entries = sorted(f"{image.sha256}:{image.label.name if image.label else ''}" for image in images)
    return {"count": len(images), "digest": hashlib.sha256("\n".join(entries).encode()).hexdigest()}


def feature_cache() -> DirectoryFeatureCache:
    """The worker's local cache of backbone features, bounded (SIGHTLINE_FEATURE_CACHE_MAX_BYTES, 0 for no
    limit); trainings and label-issue searches share it."""
    return DirectoryFeatureCache(
        settings.SIGHTLINE_FEATURE_CACHE_DIR, max_bytes=settings.SIGHTLINE_FEATURE_CACHE_MAX_BYTES or None
    )


def training_config(version: ModelVersion) -> TrainingConfig:
    """The version's hyperparameters, with the worker's folder of pretrained weights."""
    config = TrainingConfig.from_dict(dict(version.hyperparameters))
    config.weights_dir = str(settings.SIGHTLINE_WEIGHTS_DIR)
    return config
