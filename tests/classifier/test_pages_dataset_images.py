"""One image from the dataset page: relabel and delete (in place or with a redirect), and the
owner-checked file and thumbnail views."""

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from classifier.models import DatasetImage
from tests.classifier.dataset_pages_support import detail_url, jpeg_upload
from tests.factories import DatasetFactory, DatasetImageFactory, LabelClassFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(user):
    return DatasetFactory(owner=user, name="Birds", description="Garden birds")


@pytest.fixture
def image(dataset):
    return DatasetImageFactory(dataset=dataset, label=LabelClassFactory(dataset=dataset, name="sparrow"))


# Relabel and delete images


def test_relabel_an_image_and_return_to_the_same_grid_page(user_client, dataset, image):
    robin = LabelClassFactory(dataset=dataset, name="robin")
    back_to = f"{detail_url(dataset)}?split=train&page=1"

    response = user_client.post(
        reverse("classifier:image-relabel", args=[image.pk]), {"label": "robin", "next": back_to}
    )

    assert response.status_code == 302
    # Back on the same page of the grid, at the picture that changed.
    assert response.url == f"{back_to}#image-{image.pk}"
    image.refresh_from_db()
    assert image.label == robin


def test_relabel_in_place_answers_json_to_the_gallery_script(user_client, dataset, image):
    robin = LabelClassFactory(dataset=dataset, name="robin")

    response = user_client.post(
        reverse("classifier:image-relabel", args=[image.pk]), {"label": "robin"}, headers={"Accept": "application/json"}
    )

    assert response.status_code == 200
    assert response.json() == {"ok": True, "message": f'"{image}" is now class "robin".', "label": "robin"}
    image.refresh_from_db()
    assert image.label == robin


def test_relabel_in_place_refused_says_why_and_changes_nothing(user_client, dataset, image):
    response = user_client.post(
        reverse("classifier:image-relabel", args=[image.pk]),
        {"label": "x" * 300},
        headers={"Accept": "application/json"},
    )

    assert response.status_code == 400
    assert response.json()["ok"] is False
    assert response.json()["label"] == "sparrow"
    image.refresh_from_db()
    assert image.label.name == "sparrow"
    assert list(dataset.classes.values_list("name", flat=True)) == ["sparrow"]


def test_delete_in_place_answers_json(user_client, dataset, image, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = user_client.post(
            reverse("classifier:image-delete", args=[image.pk]), headers={"Accept": "application/json"}
        )

    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert not DatasetImage.objects.filter(pk=image.pk).exists()


def test_relabel_to_unlabelled(user_client, dataset, image):
    user_client.post(reverse("classifier:image-relabel", args=[image.pk]), {"label": ""})

    image.refresh_from_db()
    assert image.label is None


def test_relabel_never_redirects_off_site(user_client, dataset, image):
    response = user_client.post(
        reverse("classifier:image-relabel", args=[image.pk]),
        {"label": "robin", "next": "https://evil.example/"},
    )

    assert response.url == f"{detail_url(dataset)}?tab=images#image-{image.pk}"


def test_delete_an_image(user_client, dataset, image, django_capture_on_commit_callbacks):
    name = image.file.name

    with django_capture_on_commit_callbacks(execute=True):
        response = user_client.post(reverse("classifier:image-delete", args=[image.pk]))

    assert response.status_code == 302
    assert not DatasetImage.objects.filter(pk=image.pk).exists()
    assert not default_storage.exists(name)


# Image files


def test_image_file_streams_the_bytes_to_the_owner(user_client, image):
    response = user_client.get(reverse("classifier:image-file", args=[image.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content) == default_storage.open(image.file.name).read()
    assert "private" in response["Cache-Control"]


def test_thumbnail_falls_back_to_the_file_when_none_was_made(user_client, image):
    response = user_client.get(reverse("classifier:image-thumbnail", args=[image.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content)[:2] == b"\xff\xd8"


def test_thumbnail_of_an_uploaded_image(user_client, dataset):
    user_client.post(
        reverse("classifier:image-upload", args=[dataset.pk]), {"files": [jpeg_upload("a.jpg", (5, 6, 7))]}
    )
    uploaded = DatasetImage.objects.get(dataset=dataset)

    response = user_client.get(reverse("classifier:image-thumbnail", args=[uploaded.pk]))

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == default_storage.open(uploaded.thumbnail.name).read()
    assert "private" in response["Cache-Control"]


def test_a_file_missing_from_storage_is_not_found(user_client, image):
    default_storage.delete(image.file.name)

    assert user_client.get(reverse("classifier:image-file", args=[image.pk])).status_code == 404
