"""URL lists and pictures shared by the URL-list import tests."""

from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import image_bytes

LIMIT = 20_000


def jpeg(n: int) -> bytes:
    return image_bytes(color=(n % 256, (n * 7) % 256, 90))


def url_list(lines: list[str]) -> SimpleUploadedFile:
    return SimpleUploadedFile("urls.csv", ("\n".join(lines) + "\n").encode(), content_type="text/csv")
