"""Images API: upload (with per-file rejections), list with filters, read, relabel and delete."""

from urllib.parse import urlparse

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import resolve

from classifier.models import DatasetImage, LabelClass
from tests.factories import DatasetFactory, DatasetImageFactory, LabelClassFactory, image_bytes

pytestmark = pytest.mark.django_db

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


def _jpeg(name="photo.jpg", color=(200, 30, 30), size=(32, 24)):
    return SimpleUploadedFile(name, image_bytes(color=color, size=size), content_type="image/jpeg")


def _upload(client, dataset, data):
    return client.post(f"/api/v1/datasets/{dataset.id}/images/", data, format="multipart")


def test_upload_an_image_with_a_new_label(user, user_api):
    dataset = DatasetFactory(owner=user)

    response = _upload(user_api, dataset, {"file": _jpeg("robin.jpg"), "label": "robin"})

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

    image = _upload(user_api, dataset, {"file": _jpeg()}).json()["imported"][0]

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

    response = _upload(user_api, dataset, {"file": [_jpeg("a.jpg", (1, 2, 3)), _jpeg("b.png", (90, 90, 9))]})

    assert response.status_code == 201
    assert [image["label"] for image in response.json()["imported"]] == [None, None]
    assert DatasetImage.objects.filter(dataset=dataset, label=None).count() == 2


def test_a_text_file_named_jpg_is_reported_as_not_an_image(user, user_api):
    dataset = DatasetFactory(owner=user)
    fake = SimpleUploadedFile("notes.jpg", b"just some text, not a picture", content_type="image/jpeg")

    response = _upload(user_api, dataset, {"file": fake, "label": "robin"})

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

    response = _upload(
        user_api,
        dataset,
        {
            "file": [
                _jpeg("new.jpg", (250, 250, 0)),
                _jpeg("again.jpg", (5, 5, 5), size=(32, 32)),
                _jpeg("tiny.jpg", size=(1, 1)),
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

    response = _upload(user_api, dataset, {"file": [empty, _jpeg()]})

    assert response.status_code == 201
    assert [r["filename"] for r in response.json()["rejected"]] == ["empty.jpg"]


def test_upload_without_a_file_is_400(user, user_api):
    dataset = DatasetFactory(owner=user)

    response = _upload(user_api, dataset, {"label": "robin"})

    assert response.status_code == 400
    assert response.json() == {"file": ["This field is required."]}


def test_upload_with_a_text_field_for_file_is_400(user, user_api):
    dataset = DatasetFactory(owner=user)

    response = _upload(user_api, dataset, {"file": "robin.jpg"})

    assert response.status_code == 400
    assert "file" in response.json()


def test_upload_of_more_files_than_allowed_is_400_not_500(user, user_api, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    dataset = DatasetFactory(owner=user)

    response = _upload(user_api, dataset, {"file": [_jpeg(f"{n}.jpg", (n, n, n)) for n in range(3)]})

    assert response.status_code == 400
    assert "DATA_UPLOAD_MAX_NUMBER_FILES" in response.json()["detail"]
    assert not DatasetImage.objects.exists()


def test_upload_to_another_users_dataset_is_404(other_user, user_api):
    dataset = DatasetFactory(owner=other_user)

    response = _upload(user_api, dataset, {"file": _jpeg()})

    assert response.status_code == 404
    assert not DatasetImage.objects.exists()


def test_anonymous_cannot_upload_or_list(user, api_client):
    dataset = DatasetFactory(owner=user)

    assert _upload(api_client, dataset, {"file": _jpeg()}).status_code == 401
    assert api_client.get(f"/api/v1/datasets/{dataset.id}/images/").status_code == 401
    assert not DatasetImage.objects.exists()


def test_staff_can_upload_to_anyones_dataset(user, staff_api):
    dataset = DatasetFactory(owner=user)

    assert _upload(staff_api, dataset, {"file": _jpeg()}).status_code == 201
    assert dataset.images.count() == 1


def _labelled_dataset(owner):
    dataset = DatasetFactory(owner=owner)
    robin = LabelClassFactory(dataset=dataset, name="robin")
    images = {
        "robin_train": DatasetImageFactory(dataset=dataset, label=robin, split=DatasetImage.Split.TRAIN),
        "robin_val": DatasetImageFactory(dataset=dataset, label=robin, split=DatasetImage.Split.VAL),
        "unlabelled": DatasetImageFactory(dataset=dataset, label=None, split=DatasetImage.Split.TRAIN),
    }
    return dataset, images


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, {"robin_train", "robin_val", "unlabelled"}),
        ({"label": "robin"}, {"robin_train", "robin_val"}),
        ({"label": "-"}, {"unlabelled"}),
        ({"label": ""}, {"robin_train", "robin_val", "unlabelled"}),
        ({"split": "train"}, {"robin_train", "unlabelled"}),
        ({"label": "robin", "split": "val"}, {"robin_val"}),
        ({"label": "wren"}, set()),
    ],
)
def test_list_images_with_filters(user, user_api, query, expected):
    dataset, images = _labelled_dataset(user)

    response = user_api.get(f"/api/v1/datasets/{dataset.id}/images/", query)

    assert response.status_code == 200
    ids = {image["id"] for image in response.json()["results"]}
    assert ids == {images[key].id for key in expected}


def test_list_images_rejects_an_unknown_split(user, user_api):
    dataset, _ = _labelled_dataset(user)

    response = user_api.get(f"/api/v1/datasets/{dataset.id}/images/", {"split": "holdout"})

    assert response.status_code == 400
    assert response.json() == {"split": ['"holdout" is not a valid choice.']}


def test_list_images_of_another_users_dataset_is_404_but_staff_see_it(other_user, user_api, staff_api):
    dataset, _ = _labelled_dataset(other_user)

    assert user_api.get(f"/api/v1/datasets/{dataset.id}/images/").status_code == 404
    assert staff_api.get(f"/api/v1/datasets/{dataset.id}/images/").json()["count"] == 3


def test_read_one_image(user, user_api):
    image = DatasetImageFactory(dataset=DatasetFactory(owner=user))

    response = user_api.get(f"/api/v1/images/{image.id}/")

    assert response.status_code == 200
    assert set(response.json()) == IMAGE_FIELDS
    assert response.json()["label"] == image.label.name


def test_relabel_an_image_to_a_new_class(user, user_api):
    image = DatasetImageFactory(dataset=DatasetFactory(owner=user))

    response = user_api.patch(f"/api/v1/images/{image.id}/", {"label": "wren"}, format="json")

    assert response.status_code == 200
    assert response.json()["label"] == "wren"
    image.refresh_from_db()
    assert image.label.name == "wren"


def test_relabel_to_null_makes_an_image_unlabelled(user, user_api):
    image = DatasetImageFactory(dataset=DatasetFactory(owner=user))

    response = user_api.patch(f"/api/v1/images/{image.id}/", {"label": None}, format="json")

    assert response.status_code == 200
    assert response.json()["label"] is None
    image.refresh_from_db()
    assert image.label is None


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ({"label": ""}, {"label": ["This field may not be blank."]}),
        ({"label": "  "}, {"label": ["This field may not be blank."]}),
        ({}, {"label": ["This field is required."]}),
    ],
)
def test_relabel_rejects_a_missing_or_empty_label(user, user_api, payload, errors):
    image = DatasetImageFactory(dataset=DatasetFactory(owner=user))
    label_before = image.label

    response = user_api.patch(f"/api/v1/images/{image.id}/", payload, format="json")

    assert response.status_code == 400
    assert response.json() == errors
    image.refresh_from_db()
    assert image.label == label_before


def test_another_users_image_is_404_for_every_method(other_user, user_api):
    image = DatasetImageFactory(dataset=DatasetFactory(owner=other_user))
    url = f"/api/v1/images/{image.id}/"

    assert user_api.get(url).status_code == 404
    assert user_api.patch(url, {"label": "mine"}, format="json").status_code == 404
    assert user_api.delete(url).status_code == 404
    assert DatasetImage.objects.filter(id=image.id, label=image.label).exists()


def test_anonymous_cannot_touch_an_image(user, api_client):
    image = DatasetImageFactory(dataset=DatasetFactory(owner=user))
    url = f"/api/v1/images/{image.id}/"

    assert api_client.get(url).status_code == 401
    assert api_client.patch(url, {"label": "x"}, format="json").status_code == 401
    assert api_client.delete(url).status_code == 401


def test_staff_can_relabel_and_delete_anyones_image(user, staff_api):
    image = DatasetImageFactory(dataset=DatasetFactory(owner=user))

    relabelled = staff_api.patch(f"/api/v1/images/{image.id}/", {"label": "wren"}, format="json")
    deleted = staff_api.delete(f"/api/v1/images/{image.id}/")

    assert relabelled.status_code == 200
    assert deleted.status_code == 204
    assert not DatasetImage.objects.exists()


def test_delete_an_image_removes_its_file(user, user_api, django_capture_on_commit_callbacks):
    image = DatasetImageFactory(dataset=DatasetFactory(owner=user))
    storage = image.file.storage

    with django_capture_on_commit_callbacks(execute=True):
        response = user_api.delete(f"/api/v1/images/{image.id}/")

    assert response.status_code == 204
    assert not DatasetImage.objects.exists()
    assert not storage.exists(image.file.name)
