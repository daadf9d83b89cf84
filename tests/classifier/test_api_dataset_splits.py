"""Datasets API: reassigning a dataset's splits, with new or current settings."""

import pytest

from classifier.models import DatasetImage
from tests.factories import DatasetFactory, DatasetImageFactory, LabelClassFactory

pytestmark = pytest.mark.django_db


Split = DatasetImage.Split


def test_reassign_splits_with_new_settings(user, user_api):
    dataset = DatasetFactory(owner=user)
    robin = LabelClassFactory(dataset=dataset, name="robin")
    DatasetImageFactory.create_batch(10, dataset=dataset, label=robin, split=Split.TRAIN)

    response = user_api.post(
        f"/api/v1/datasets/{dataset.id}/splits/",
        {"seed": 3, "val_fraction": 0.2, "test_fraction": 0.2},
        format="json",
    )

    assert response.status_code == 200
    assert response.json() == {"train": 6, "val": 2, "test": 2, "augmented_deleted": 0}
    dataset.refresh_from_db()
    assert (dataset.split_seed, dataset.val_fraction, dataset.test_fraction) == (3, 0.2, 0.2)
    assert DatasetImage.objects.filter(dataset=dataset, split=Split.VAL).count() == 2


def test_reassign_splits_keeps_current_settings_when_none_are_given(user, user_api):
    dataset = DatasetFactory(owner=user, split_seed=5)

    response = user_api.post(f"/api/v1/datasets/{dataset.id}/splits/", {}, format="json")

    assert response.status_code == 200
    dataset.refresh_from_db()
    assert dataset.split_seed == 5


def test_reassign_splits_rejects_bad_fractions(user, user_api):
    dataset = DatasetFactory(owner=user)

    response = user_api.post(f"/api/v1/datasets/{dataset.id}/splits/", {"val_fraction": 1.5}, format="json")

    assert response.status_code == 400
    assert response.json()["detail"].startswith("Split fractions must each be in [0, 1)")


def test_staff_can_reassign_anyones_splits(user, staff_api):
    dataset = DatasetFactory(owner=user)

    assert (
        staff_api.post(f"/api/v1/datasets/{dataset.id}/splits/", {"seed": 1}, format="json").status_code
        == 200
    )
