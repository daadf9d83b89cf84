"""Images API: list with filters, read, relabel and delete, and who may touch which image."""

import pytest

from classifier.models import DatasetImage
from tests.classifier.image_api_support import IMAGE_FIELDS, jpeg_upload, upload
from tests.factories import DatasetFactory, DatasetImageFactory, LabelClassFactory

pytestmark = pytest.mark.django_db


def test_staff_can_upload_to_anyones_dataset(user, staff_api):
    dataset = DatasetFactory(owner=user)

    assert upload(staff_api, dataset, {"file": jpeg_upload()}).status_code == 201
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
