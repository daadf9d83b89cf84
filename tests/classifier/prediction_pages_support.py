"""Colours, datasets, URLs and form posts shared by the prediction page tests."""

import re

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from classifier.models import ModelVersion, Prediction
from tests.factories import DatasetFactory, LabelClassFactory, UserFactory, image_bytes
from tests.models import PRIMARY_CLASSES

# Orange, between red and green: the colour models (tests/models.py) answer red 78%,
# green 22%, blue under 1%, so a threshold of 0.5 gives one answer and 0.8 two.
ORANGE = (255, 200, 0)


def colours_dataset(user):
    dataset = DatasetFactory(owner=user, name="Colours")
    for name in PRIMARY_CLASSES:
        LabelClassFactory(dataset=dataset, name=name)
    return dataset


def public_imagenet_versions(make_ready_version):
    """The public ready-made dataset, its three versions usable by everyone."""
    system = UserFactory(username="sightline", is_active=False)
    public = DatasetFactory(owner=system, name="ImageNet-1k", is_public=True)
    return [make_ready_version(public, number, detector=False, is_active=number == 1) for number in (1, 2, 3)]


def png_upload(color=ORANGE, name="photo.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, image_bytes(color=color, fmt="PNG"), content_type="image/png")


def quick_test_url(version: ModelVersion) -> str:
    return reverse("classifier:model-version-predict", args=[version.pk])


def detail_url(prediction: Prediction) -> str:
    return reverse("classifier:prediction-detail", args=[prediction.pk])


def predict(client, version: ModelVersion, **data):
    return client.post(quick_test_url(version), {"threshold": "0.5", **data})


def answer_text(page) -> str:
    """The answer box's sentence, tags and spacing removed."""
    box = re.search(r'<div class="answer [^"]*" id="answer">(.*?)</p>', page.text, re.S).group(1)
    return " ".join(re.sub(r"<[^>]+>", "", box).split())


def stored_prediction(owner, version, **fields) -> Prediction:
    values = {
        "status": Prediction.Status.SUCCEEDED,
        "results": [{"label": "red", "probability": 0.7}, {"label": "green", "probability": 0.2}],
        "details": {"threshold": 0.5},
        **fields,
    }
    return Prediction.objects.create(owner=owner, model_version=version, **values)
