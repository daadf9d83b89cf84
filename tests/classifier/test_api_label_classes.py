"""Datasets API: a dataset's classes: list, add, delete, and who may do which."""

import pytest

from classifier.models import LabelClass
from tests.factories import DatasetFactory, DatasetImageFactory, LabelClassFactory

pytestmark = pytest.mark.django_db


def test_list_and_add_classes(user, user_api):
    dataset = DatasetFactory(owner=user)
    LabelClassFactory(dataset=dataset, name="robin")

    created = user_api.post(f"/api/v1/datasets/{dataset.id}/classes/", {"name": " wren "}, format="json")
    listing = user_api.get(f"/api/v1/datasets/{dataset.id}/classes/")

    assert created.status_code == 201
    wren = LabelClass.objects.get(dataset=dataset, name="wren")
    assert created.json() == {
        "id": wren.id,
        "name": "wren",
        "image_count": 0,
        "split_counts": {"train": 0, "val": 0, "test": 0},
    }
    assert listing.status_code == 200
    assert [c["name"] for c in listing.json()["results"]] == ["robin", "wren"]


def test_adding_an_existing_class_returns_it_with_its_counts(user, user_api):
    dataset = DatasetFactory(owner=user)
    robin = LabelClassFactory(dataset=dataset, name="robin")
    DatasetImageFactory(dataset=dataset, label=robin)

    response = user_api.post(f"/api/v1/datasets/{dataset.id}/classes/", {"name": "robin"}, format="json")

    assert response.json()["id"] == robin.id
    assert response.json()["image_count"] == 1
    assert LabelClass.objects.filter(dataset=dataset).count() == 1


def test_a_class_needs_a_name(user, user_api):
    dataset = DatasetFactory(owner=user)

    response = user_api.post(f"/api/v1/datasets/{dataset.id}/classes/", {"name": ""}, format="json")

    assert response.status_code == 400
    assert response.json() == {"name": ["This field may not be blank."]}


def test_delete_a_class_keeps_its_images_unlabelled(user, user_api):
    dataset = DatasetFactory(owner=user)
    robin = LabelClassFactory(dataset=dataset, name="robin")
    image = DatasetImageFactory(dataset=dataset, label=robin)

    response = user_api.delete(f"/api/v1/classes/{robin.id}/")

    assert response.status_code == 204
    assert not LabelClass.objects.exists()
    image.refresh_from_db()
    assert image.label is None


def test_another_users_class_is_404(other_user, user_api, api_client, staff_api):
    label = LabelClassFactory(dataset=DatasetFactory(owner=other_user))

    assert user_api.delete(f"/api/v1/classes/{label.id}/").status_code == 404
    assert api_client.delete(f"/api/v1/classes/{label.id}/").status_code == 401
    assert LabelClass.objects.filter(id=label.id).exists()
    assert staff_api.delete(f"/api/v1/classes/{label.id}/").status_code == 204
