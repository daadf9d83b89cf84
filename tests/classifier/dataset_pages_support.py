"""Picture uploads and URLs shared by the dataset page tests."""

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from classifier.models import Dataset
from tests.factories import image_bytes


def jpeg_upload(name: str, color: tuple[int, int, int]) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, image_bytes(color=color), content_type="image/jpeg")


def detail_url(dataset: Dataset) -> str:
    return reverse("classifier:dataset-detail", args=[dataset.pk])
