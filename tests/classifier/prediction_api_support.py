"""Uploads and predict requests shared by the predictions API tests."""

from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import image_bytes

RED, BLUE, GREY = (255, 0, 0), (0, 0, 255), (128, 128, 128)


def png_upload(color=RED, name="photo.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, image_bytes(color=color, fmt="PNG"), content_type="image/png")


def predict(client, version, data, query=""):
    fmt = "json" if "url" in data and "image" not in data else "multipart"
    return client.post(f"/api/v1/model-versions/{version.id}/predict/{query}", data, format=fmt)
