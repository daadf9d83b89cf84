"""Helpers for the manifest and scoring tests: a dataset of pure-colour test images the colour models
(tests/models.py) answer, and a manifest written for a ready version as its training would."""

from classifier.models import Dataset, DatasetImage, ModelVersion
from classifier.services.images import image_add
from classifier.services.manifests import manifest_store
from tests.factories import image_bytes

PURE = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}


def colour_test_split(dataset: Dataset, *, per_class: int = 2, mislabelled: int = 1) -> list[DatasetImage]:
    """``per_class`` test images of each primary colour labelled with it, and ``mislabelled`` red pictures
    labelled "blue" (every colour model gets those wrong). Colours vary a little: each image is distinct."""
    images = []
    for name, colour in PURE.items():
        for index in range(per_class):
            shade = tuple(max(0, value - 3 * index) for value in colour)
            images.append(_add(dataset, shade, f"{name}{index}.png", name))
    for index in range(mislabelled):
        images.append(_add(dataset, (240 - 3 * index, 10, 10), f"wrong{index}.png", "blue"))
    DatasetImage.objects.filter(id__in=[image.id for image in images]).update(split=DatasetImage.Split.TEST)
    return images


def _add(dataset: Dataset, colour: tuple, filename: str, label: str) -> DatasetImage:
    return image_add(
        dataset=dataset, content=image_bytes(color=colour, fmt="PNG"), filename=filename, label_name=label,
        origin="upload",
    )


def manifest_for(version: ModelVersion) -> ModelVersion:
    """Store a manifest of the dataset's images as they are now, as if ``version`` had been trained on them."""
    images = DatasetImage.objects.filter(dataset=version.dataset, label__isnull=False).select_related("label")
    by_split: dict[str, list[DatasetImage]] = {}
    for image in images.order_by("id"):
        by_split.setdefault(image.split, []).append(image)
    folder = version.tflite_file.name.rsplit("/", 1)[0]
    version.manifest_file = manifest_store(folder=folder, images_by_split=by_split)
    version.save(update_fields=["manifest_file"])
    return version
