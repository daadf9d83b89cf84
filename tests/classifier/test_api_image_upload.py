"""Images API: upload, with per-file rejections, limits, and who may upload where."""

from urllib.parse import urlparse

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import resolve

from classifier.models import DatasetImage, LabelClass
from tests.classifier.image_api_support import IMAGE_FIELDS, jpeg_upload, upload
from tests.factories import DatasetFactory, DatasetImageFactory, image_bytes

pytestmark = pytest.mark.django_db


def test_upload_an_image_with_a_new_label(user, user_api):
    dataset = DatasetFactory(owner=user)

    response = upload(user_api, dataset, {"file": jpeg_upload("robin.jpg"), "label": "robin"})

    assert response.status_code == 201
    body = response.json()
    assert body["rejected"] == []
    assert body["counts"]["imported"] == 1
    [image] = body["imported"]
    assert set(image) == IMAGE_FIELDS
    assert image["label"] == "robin"
    assert (image["width"], image["height"]) == (32, 24)
    assert image["original_name"] == "robin.jpg"
    assert image["origin"] == "upload"
    assert image["dataset"] == dataset.id
    stored = DatasetImage.objects.get(id=image["id"])
    assert stored.label.name == "robin"
    assert image["sha256"] == stored.sha256


def test_image_urls_point_at_the_owner_checked_file_routes(user, user_api):
    dataset = DatasetFactory(owner=user)

    image = upload(user_api, dataset, {"file": jpeg_upload()}).json()["imported"][0]

    assert image["file_url"].startswith("http://testserver/")
    file_route = resolve(urlparse(image["file_url"]).path)
    thumbnail_route = resolve(urlparse(image["thumbnail_url"]).path)
    assert (file_route.view_name, file_route.kwargs["pk"]) == ("classifier:image-file", image["id"])
    assert (thumbnail_route.view_name, thumbnail_route.kwargs["pk"]) == (
        "classifier:image-thumbnail",
        image["id"],
    )


def test_upload_several_files_without_a_label(user, user_api):
    dataset = DatasetFactory(owner=user)

    response = upload(user_api, dataset, {"file": [jpeg_upload("a.jpg", (1, 2, 3)), jpeg_upload("b.png", (90, 90, 9))]})

    assert response.status_code == 201
    assert [image["label"] for image in response.json()["imported"]] == [None, None]
    assert DatasetImage.objects.filter(dataset=dataset, label=None).count() == 2


def test_a_text_file_named_jpg_is_reported_as_not_an_image(user, user_api):
    dataset = DatasetFactory(owner=user)
    fake = SimpleUploadedFile("notes.jpg", b"just some text, not a picture", content_type="image/jpeg")

    response = upload(user_api, dataset, {"file": fake, "label": "robin"})

    # Every file was rejected: a 400 with the same body as a success, saying why per file.
    assert response.status_code == 400
    body = response.json()
    assert body["imported"] == []
    assert [(r["filename"], r["reason"]) for r in body["rejected"]] == [("notes.jpg", "not_image")]
    assert body["rejected"][0]["detail"]
    assert body["counts"]["not_image"] == 1
    assert body["counts"]["imported"] == 0
    assert not DatasetImage.objects.exists()
    assert not LabelClass.objects.exists()


def test_a_partly_rejected_upload_stores_the_good_files(user, user_api):
    dataset = DatasetFactory(owner=user)
    DatasetImageFactory(
        dataset=dataset, content=image_bytes(color=(5, 5, 5), size=(32, 32)), original_name="old.jpg"
    )

    response = upload(
        user_api,
        dataset,
        {
            "file": [
                jpeg_upload("new.jpg", (250, 250, 0)),
                jpeg_upload("again.jpg", (5, 5, 5), size=(32, 32)),
                jpeg_upload("tiny.jpg", size=(1, 1)),
            ]
        },
    )

    assert response.status_code == 201
    body = response.json()
    assert [image["original_name"] for image in body["imported"]] == ["new.jpg", "tiny.jpg"]
    assert [(r["filename"], r["reason"]) for r in body["rejected"]] == [("again.jpg", "duplicate")]
    assert body["counts"]["duplicate"] == 1


def test_an_empty_file_is_rejected_on_its_own(user, user_api):
    dataset = DatasetFactory(owner=user)
    empty = SimpleUploadedFile("empty.jpg", b"", content_type="image/jpeg")

    response = upload(user_api, dataset, {"file": [empty, jpeg_upload()]})

    assert response.status_code == 201
    assert [r["filename"] for r in response.json()["rejected"]] == ["empty.jpg"]


def test_upload_without_a_file_is_400(user, user_api):
    dataset = DatasetFactory(owner=user)

    response = upload(user_api, dataset, {"label": "robin"})

    assert response.status_code == 400
    assert response.json() == {"file": ["This field is required."]}


def test_upload_with_a_text_field_for_file_is_400(user, user_api):
    dataset = DatasetFactory(owner=user)

    response = upload(user_api, dataset, {"file": "robin.jpg"})

    assert response.status_code == 400
    assert "file" in response.json()


def test_upload_of_more_files_than_allowed_is_400_not_500(user, user_api, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    dataset = DatasetFactory(owner=user)

    response = upload(user_api, dataset, {"file": [jpeg_upload(f"{n}.jpg", (n, n, n)) for n in range(3)]})

    assert response.status_code == 400
    assert "DATA_UPLOAD_MAX_NUMBER_FILES" in response.json()["detail"]
    assert not DatasetImage.objects.exists()


def test_upload_to_another_users_dataset_is_404(other_user, user_api):
    dataset = DatasetFactory(owner=other_user)

    response = upload(user_api, dataset, {"file": jpeg_upload()})

    assert response.status_code == 404
    assert not DatasetImage.objects.exists()


def test_anonymous_cannot_upload_or_list(user, api_client):
    dataset = DatasetFactory(owner=user)

    assert upload(api_client, dataset, {"file": jpeg_upload()}).status_code == 401
    assert api_client.get(f"/api/v1/datasets/{dataset.id}/images/").status_code == 401
    assert not DatasetImage.objects.exists()
