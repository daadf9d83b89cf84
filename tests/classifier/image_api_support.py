"""The image fields and uploads shared by the images API tests."""

from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import image_bytes

IMAGE_FIELDS = {
    "id",
    "dataset",
    "label",
    "split",
    "origin",
    "width",
    "height",
    "sha256",
    "original_name",
    "created_at",
    "file_url",
    "thumbnail_url",
}


def jpeg_upload(name="photo.jpg", color=(200, 30, 30), size=(32, 24)):
    return SimpleUploadedFile(name, image_bytes(color=color, size=size), content_type="image/jpeg")


def upload(client, dataset, data):
    return client.post(f"/api/v1/datasets/{dataset.id}/images/", data, format="multipart")
