"""A version's manifest: the exact images it was trained, validated and tested on, with the label and split
each had then, stored as ``manifest.csv.gz`` beside its other files.

Written by the training (``training.model_version_train_run``) in the version's folder, so it goes with
the version's folder when the version is deleted and when its training fails or is cancelled
(``version_states.model_version_training_cleanup``). Read back to say how the dataset drifted since, and
to score versions again on the same test images (``services.scoring``).
"""

import io
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pandas as pd
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from classifier.models import DatasetImage, ModelVersion

MANIFEST_NAME = "manifest.csv.gz"
COLUMNS = ["image_id", "sha256", "split", "label", "original_name"]
SPLITS = [DatasetImage.Split.TRAIN.value, DatasetImage.Split.VAL.value, DatasetImage.Split.TEST.value]


class ManifestMissing(Exception):
    """The version has no manifest: trained before manifests were kept, or an installed ImageNet model."""


@dataclass(frozen=True)
class ManifestRow:
    image_id: int
    split: str
    label: str


def manifest_store(*, folder: str, images_by_split: dict[str, list[DatasetImage]]) -> str:
    """Write the manifest of the images a training uses into ``folder``; returns its stored name.

    Each image's label is read from the loaded row (``label`` selected with it), as training sees it.
    A manifest left by an earlier attempt of the same training is replaced, so a resumed one keeps one.
    """
    rows = [
        # Trainings use labelled images only; an unlabelled one would be written with an empty label.
        (image.id, image.sha256, split, image.label.name if image.label else "", image.original_name)
        for split in SPLITS
        for image in images_by_split.get(split, [])
    ]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    buffer = io.BytesIO()
    # mtime 0: the same images give the same bytes, so two manifests compare by their digest.
    frame.to_csv(buffer, index=False, compression={"method": "gzip", "mtime": 0})
    name = f"{folder}/{MANIFEST_NAME}"
    default_storage.delete(name)
    return default_storage.save(name, ContentFile(buffer.getvalue()))


def manifest_frame(*, version: ModelVersion) -> pd.DataFrame:
    """The version's manifest as a DataFrame with ``COLUMNS``; ManifestMissing if it has none."""
    if not version.manifest_file:
        raise ManifestMissing(f"Version {version.number} has no manifest: it was trained before manifests were kept.")
    try:
        return _stored_manifest(version.manifest_file.name, str(version.trained_at)).copy()
    except FileNotFoundError as error:
        raise ManifestMissing(f"The manifest of version {version.number} is missing from storage.") from error


# A version's page and detail show its drift on every view: the manifest is read from storage (a request to
# the bucket with object storage) once per process. A name is read only once its version is ready, and a
# ready version's manifest never changes (``trained_at`` in the key all the same: a database whose ids
# start over cannot hand another version's manifest out); a missing file raises and is not remembered.
@lru_cache(maxsize=32)
def _stored_manifest(name: str, trained_at: str) -> pd.DataFrame:
    with default_storage.open(name, "rb") as file:
        # Every column as text, empty stays empty: a class called "NA" or "null" must not become NaN.
        frame = pd.read_csv(file, compression="gzip", dtype=str, keep_default_na=False)
    frame["image_id"] = frame["image_id"].astype("int64")
    return frame


def manifest_rows(*, version: ModelVersion, split: str | None = None) -> list[ManifestRow]:
    """The manifest's images (of one split, when given), in the order they were written."""
    frame = manifest_frame(version=version)
    if split is not None:
        frame = frame[frame["split"] == split]
    return [
        ManifestRow(image_id=int(image_id), split=row_split, label=label)
        for image_id, row_split, label in zip(frame["image_id"], frame["split"], frame["label"], strict=True)
    ]


def manifest_summary_text(summary: dict[str, Any]) -> str:
    """``summary`` (``selectors_versions.model_version_data_summary``) in one sentence for the version page:
    "Trained on 800/100/100 images (train/val/test); since then 3 relabelled, 1 deleted"."""
    splits = summary["splits"]
    text = f"Trained on {splits['train']}/{splits['val']}/{splits['test']} images (train/validation/test)"
    drift = summary["drift"]
    changes = [
        f"{drift[key]} {words}"
        for key, words in (
            ("relabelled", "relabelled"),
            ("moved", "moved to another split"),
            ("deleted", "deleted"),
        )
        if drift[key]
    ]
    return f"{text}; since then {', '.join(changes)}." if changes else f"{text}; none of them has changed since."
