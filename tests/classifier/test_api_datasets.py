"""Datasets API: create, list, read, change and delete datasets, and who may do which."""

import pytest
from django.core.files.storage import default_storage

from classifier.models import Dataset, DatasetImage
from tests.factories import DatasetFactory, DatasetImageFactory, LabelClassFactory

pytestmark = pytest.mark.django_db


Split = DatasetImage.Split


def test_create_a_dataset_with_default_split_settings(user_api, settings):
    response = user_api.post(
        "/api/v1/datasets/", {"name": "Birds", "description": "Garden birds"}, format="json"
    )

    assert response.status_code == 201
    body = response.json()
    dataset = Dataset.objects.get(id=body["id"])
    assert dataset.owner.username == "alice"
    assert body["name"] == "Birds"
    assert body["description"] == "Garden birds"
    assert body["owner"] == "alice"
    assert body["image_count"] == 0
    assert body["classes"] == []
    assert body["val_fraction"] == settings.SIGHTLINE_DEFAULT_VAL_FRACTION
    assert body["test_fraction"] == settings.SIGHTLINE_DEFAULT_TEST_FRACTION
    assert body["split_seed"] == 0
    assert "created_at" in body


def test_create_a_dataset_with_its_own_split_settings(user_api):
    response = user_api.post(
        "/api/v1/datasets/",
        {"name": "Birds", "val_fraction": 0.2, "test_fraction": 0.15, "split_seed": 7},
        format="json",
    )

    assert response.status_code == 201
    dataset = Dataset.objects.get(id=response.json()["id"])
    assert (dataset.val_fraction, dataset.test_fraction, dataset.split_seed) == (0.2, 0.15, 7)


def test_a_second_dataset_with_the_same_name_is_400(user, user_api):
    DatasetFactory(owner=user, name="Birds")

    response = user_api.post("/api/v1/datasets/", {"name": "Birds"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"name": ['You already have a dataset named "Birds".']}
    assert Dataset.objects.filter(name="Birds").count() == 1


def test_another_users_dataset_name_is_free(other_user, user_api):
    DatasetFactory(owner=other_user, name="Birds")

    assert user_api.post("/api/v1/datasets/", {"name": "Birds"}, format="json").status_code == 201


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ({"name": ""}, {"name": ["This field may not be blank."]}),
        ({"name": "   "}, {"name": ["This field may not be blank."]}),
        ({}, {"name": ["This field is required."]}),
        ({"name": "x" * 201}, {"name": ["Ensure this field has no more than 200 characters."]}),
        (
            {"name": "Birds", "split_seed": -1},
            {"split_seed": ["Ensure this value is greater than or equal to 0."]},
        ),
    ],
)
def test_create_rejects_bad_fields(user_api, payload, errors):
    response = user_api.post("/api/v1/datasets/", payload, format="json")

    assert response.status_code == 400
    assert response.json() == errors
    assert not Dataset.objects.exists()


def test_create_rejects_fractions_that_leave_nothing_to_train_on(user_api):
    response = user_api.post(
        "/api/v1/datasets/", {"name": "Birds", "val_fraction": 0.6, "test_fraction": 0.5}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["detail"].startswith("Split fractions must each be in [0, 1)")


def test_dataset_list_shows_only_the_users_datasets(user, other_user, user_api):
    own = DatasetFactory(owner=user)
    DatasetImageFactory.create_batch(2, dataset=own)
    DatasetFactory(owner=other_user)

    response = user_api.get("/api/v1/datasets/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert body["next"] is None and body["previous"] is None
    assert body["results"][0]["id"] == own.id
    assert body["results"][0]["image_count"] == 2


def test_staff_list_everyones_datasets(user, other_user, staff_api):
    ids = {DatasetFactory(owner=user).id, DatasetFactory(owner=other_user).id}

    response = staff_api.get("/api/v1/datasets/")

    assert {d["id"] for d in response.json()["results"]} == ids


def test_dataset_detail_counts_images_per_class_and_split(user, user_api):
    dataset = DatasetFactory(owner=user, name="Birds")
    robin = LabelClassFactory(dataset=dataset, name="robin")
    wren = LabelClassFactory(dataset=dataset, name="wren")
    DatasetImageFactory.create_batch(3, dataset=dataset, label=robin, split=Split.TRAIN)
    DatasetImageFactory(dataset=dataset, label=robin, split=Split.VAL)
    DatasetImageFactory(dataset=dataset, label=wren, split=Split.TEST)
    DatasetImageFactory(dataset=dataset, label=None)

    response = user_api.get(f"/api/v1/datasets/{dataset.id}/")

    assert response.status_code == 200
    body = response.json()
    assert body["image_count"] == 6
    assert body["owner"] == "alice"
    assert body["classes"] == [
        {
            "id": robin.id,
            "name": "robin",
            "image_count": 4,
            "split_counts": {"train": 3, "val": 1, "test": 0},
        },
        {"id": wren.id, "name": "wren", "image_count": 1, "split_counts": {"train": 0, "val": 0, "test": 1}},
    ]


def test_another_users_dataset_is_404_for_every_method(other_user, user_api):
    dataset = DatasetFactory(owner=other_user, name="Theirs")
    url = f"/api/v1/datasets/{dataset.id}/"

    assert user_api.get(url).status_code == 404
    assert user_api.patch(url, {"name": "Mine"}, format="json").status_code == 404
    assert user_api.delete(url).status_code == 404
    for sub in ("classes", "images", "splits", "imports"):
        assert user_api.post(f"{url}{sub}/", {}).status_code == 404, sub
    dataset.refresh_from_db()
    assert dataset.name == "Theirs"


def test_anonymous_cannot_reach_datasets(user, api_client):
    dataset = DatasetFactory(owner=user)

    assert api_client.get("/api/v1/datasets/").status_code == 401
    assert api_client.post("/api/v1/datasets/", {"name": "x"}, format="json").status_code == 401
    assert api_client.get(f"/api/v1/datasets/{dataset.id}/").status_code == 401
    assert api_client.delete(f"/api/v1/datasets/{dataset.id}/").status_code == 401
    assert Dataset.objects.count() == 1


def test_rename_and_describe_a_dataset(user, user_api):
    dataset = DatasetFactory(owner=user, name="Birds")

    response = user_api.patch(
        f"/api/v1/datasets/{dataset.id}/", {"name": "Garden birds", "description": "2024"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["name"] == "Garden birds"
    dataset.refresh_from_db()
    assert (dataset.name, dataset.description) == ("Garden birds", "2024")


def test_rename_onto_another_of_the_users_datasets_is_400(user, user_api):
    DatasetFactory(owner=user, name="Birds")
    dataset = DatasetFactory(owner=user, name="Cats")

    response = user_api.patch(f"/api/v1/datasets/{dataset.id}/", {"name": "Birds"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"name": ['You already have a dataset named "Birds".']}


def test_staff_can_change_and_delete_anyones_dataset(user, staff_api):
    dataset = DatasetFactory(owner=user, name="Birds")

    renamed = staff_api.patch(f"/api/v1/datasets/{dataset.id}/", {"name": "Moderated"}, format="json")
    deleted = staff_api.delete(f"/api/v1/datasets/{dataset.id}/")

    assert renamed.status_code == 200
    assert renamed.json()["owner"] == "alice"
    assert deleted.status_code == 204
    assert not Dataset.objects.exists()


def test_delete_a_dataset_removes_its_images_and_files(user, user_api, django_capture_on_commit_callbacks):
    dataset = DatasetFactory(owner=user)
    image = DatasetImageFactory(dataset=dataset)
    assert default_storage.exists(image.file.name)

    with django_capture_on_commit_callbacks(execute=True):
        response = user_api.delete(f"/api/v1/datasets/{dataset.id}/")

    assert response.status_code == 204
    assert not DatasetImage.objects.exists()
    assert not default_storage.exists(image.file.name)
