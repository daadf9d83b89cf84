"""Model versions as training leaves them (rows with metrics, calibration, mistakes and a finished job;
nothing is trained), and the URLs and form data of the version pages."""

from django.urls import reverse

from classifier.ml.config import TrainingConfig
from classifier.models import Dataset, DatasetImage, ModelVersion
from tests.factories import DatasetFactory, DatasetImageFactory, JobFactory, LabelClassFactory
from training_jobs.models import EpochMetric, Job

Split = DatasetImage.Split
Status = ModelVersion.Status


def trainable_pets(owner) -> Dataset:
    """Two classes with train, validation and test images: enough to train on."""
    dataset = DatasetFactory(owner=owner, name="Pets")
    for name in ("cat", "dog"):
        label = LabelClassFactory(dataset=dataset, name=name)
        for split in (Split.TRAIN, Split.TRAIN, Split.VAL, Split.TEST):
            DatasetImageFactory(dataset=dataset, label=label, split=split)
    return dataset


def make_version(dataset: Dataset, number: int, **fields) -> ModelVersion:
    """A trained version as the worker leaves it: metrics, calibration, mistakes and a finished job."""
    test_images = list(dataset.images.filter(split=Split.TEST).order_by("label__name"))
    values = {
        "backbone": "mobilenet_v2",
        "image_size": 224,
        "hyperparameters": TrainingConfig(
            backbone="mobilenet_v2", image_size=224, epochs=3, fine_tune_layers=10, fine_tune_epochs=2
        ).to_dict(),
        "status": Status.READY,
        "class_names": ["cat", "dog"],
        "metrics": {
            "accuracy": 0.875,
            "macro_f1": 0.8712,
            "per_class": {
                "cat": {"precision": 0.9, "recall": 0.8182, "f1": 0.8571, "support": 11},
                "dog": {"precision": 0.8462, "recall": 0.9167, "f1": 0.88, "support": 12},
            },
            "confusion_matrix": [[9, 2], [1, 11]],
            "best_epoch": 4,
            "split_sizes": {"train": 80, "val": 10, "test": 23},
        },
        # A cat taken for a dog, then a dog for a cat (none for a dataset without test images).
        "most_confused": [
            {"image_id": image.id, "true": true, "predicted": predicted, "probability": probability}
            for image, (true, predicted, probability) in zip(
                test_images, [("cat", "dog", 0.93), ("dog", "cat", 0.71)], strict=False
            )
        ],
        "calibration": {
            "temperature": 1.7321,
            "ece_before": 0.0912,
            "ece_after": 0.0234,
            "reliability_before": [
                {"lower": 0.5, "upper": 0.75, "confidence": 0.6, "accuracy": 0.5, "count": 4},
                {"lower": 0.75, "upper": 1.0, "confidence": 0.9, "accuracy": 0.8, "count": 6},
            ],
            "reliability_after": [
                {"lower": 0.5, "upper": 0.75, "confidence": 0.62, "accuracy": 0.6, "count": 5},
                {"lower": 0.75, "upper": 1.0, "confidence": 0.85, "accuracy": 0.84, "count": 5},
            ],
        },
        "created_by": dataset.owner,
        **fields,
    }
    version = ModelVersion.objects.create(dataset=dataset, number=number, **values)
    finished = version.status != Status.QUEUED and version.status != Status.TRAINING
    job = JobFactory(
        kind=Job.Kind.TRAIN,
        requested_by=dataset.owner,
        dataset=dataset,
        model_version=version,
        status=Job.Status.SUCCEEDED if finished else Job.Status.RUNNING,
        progress=1.0 if finished else 0.4,
        message="Epoch 2 (head): val accuracy 0.800",
    )
    for epoch in (1, 2):
        EpochMetric.objects.create(
            job=job, epoch=epoch, phase="head", loss=1.0 / epoch, accuracy=0.6 + epoch / 10,
            val_loss=1.2 / epoch, val_accuracy=0.55 + epoch / 10, learning_rate=1e-3, seconds=1.5,
        )
    return version


def detail_url(version: ModelVersion) -> str:
    return reverse("classifier:model-version-detail", args=[version.pk])


def compare_url(a: ModelVersion, b: ModelVersion) -> str:
    return f"{reverse('classifier:model-version-compare')}?a={a.pk}&b={b.pk}"


def train_form_data(**overrides) -> dict:
    data = {
        "budget": "standard",
        "horizontal_flip": "",
        "backbone": "efficientnet_lite0",
        "weights": "imagenet",
        "image_size": "",
        "epochs": "5",
        "batch_size": "16",
        "learning_rate": "0.001",
        "fine_tune_layers": "0",
        "fine_tune_epochs": "",
        "early_stopping_patience": "3",
        "augment": "yes",
    }
    return {**data, **overrides}
