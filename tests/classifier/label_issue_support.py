"""Datasets with planted label mistakes, a stand-in backbone and the queue's open issues, for the label-issue
tests.

The stand-in maps a picture to its mean colour (and a fixed random projection of it): cheap, and it
separates the colours as an ImageNet backbone would, so the queue's contents can be checked exactly.
"""

import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from classifier.models import Dataset, DatasetImage, LabelIssue
from classifier.services.images import image_add
from tests.factories import DatasetFactory

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}


def png(color, seed: int, size: int = 32) -> bytes:
    noise = np.random.default_rng(seed).integers(0, 40, (size, size, 3))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(np.array(color) + noise, 0, 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def colours_dataset(owner, *, per_class: int = 8, planted: int = 2, name: str = "colours") -> tuple[Dataset, list]:
    """``per_class`` pictures of each colour labelled right, and ``planted`` red pictures labelled blue."""
    dataset = DatasetFactory(owner=owner, name=name)
    seed = 0
    for label, color in COLOURS.items():
        for index in range(per_class):
            seed += 1
            image_add(dataset=dataset, content=png(color, seed), filename=f"{label}{index}.png", label_name=label,
                      origin="upload")
    wrong = []
    for index in range(planted):
        seed += 1
        wrong.append(
            image_add(dataset=dataset, content=png(COLOURS["red"], seed), filename=f"wrong{index}.png",
                      label_name="blue", origin="upload")
        )
    return dataset, wrong


@dataclass
class _Shape:
    shape: tuple


@dataclass
class MeanColourExtractor:
    """Stands in for ``backbones.build_feature_extractor``'s model; records every batch it computes."""

    batches: list = field(default_factory=list)
    output: _Shape = field(default_factory=lambda: _Shape((None, 8)))

    def predict_on_batch(self, batch: np.ndarray) -> np.ndarray:
        self.batches.append(len(batch))
        means = batch.mean(axis=(1, 2)) / 255.0
        projection = np.random.default_rng(0).normal(size=(3, 5))
        return np.concatenate([means, means @ projection], axis=1).astype(np.float32)


def use_mean_colour_backbone(monkeypatch) -> MeanColourExtractor:
    extractor = MeanColourExtractor()
    built = []

    def build(name, *, input_size=None, weights="imagenet", weights_dir=None):
        built.append((name, input_size, weights))
        return extractor

    monkeypatch.setattr("classifier.ml.backbones.build_feature_extractor", build)
    extractor.built = built
    return extractor


def labelled_images(dataset: Dataset) -> list[DatasetImage]:
    return list(DatasetImage.objects.filter(dataset=dataset, label__isnull=False))


def augmented_copy(source: DatasetImage, seed: int) -> DatasetImage:
    """An augmented copy of a training image, stored as augmentation stores one."""
    from classifier.services.images import image_store
    from classifier.services.imaging import image_check

    checked = image_check(content=png((1, 2, 3), seed), filename=f"copy{seed}.png")
    return image_store(dataset=source.dataset, checked=checked, label=source.label, origin="augmented",
                       original_name=f"copy{seed}.png", source_image=source)


def open_issues(dataset) -> list[LabelIssue]:
    return list(LabelIssue.objects.filter(dataset=dataset, status=LabelIssue.Status.OPEN))


def old_issue(dataset) -> LabelIssue:
    """An issue an earlier search left open, on a green picture."""
    image = DatasetImage.objects.filter(dataset=dataset, label__name="green").first()
    return LabelIssue.objects.create(dataset=dataset, image=image, given_label=image.label, score=0.5)
