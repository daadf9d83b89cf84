"""The dataset page: chart data, classes, the image grid and its filters, and the split settings."""

import json

import pytest
from django.db.models import Count
from django.urls import reverse

from classifier.models import DatasetImage, LabelClass
from classifier.views import dataset_page
from tests.classifier.dataset_pages_support import detail_url
from tests.factories import DatasetFactory, DatasetImageFactory, LabelClassFactory

pytestmark = pytest.mark.django_db


Split = DatasetImage.Split


@pytest.fixture
def dataset(user):
    return DatasetFactory(owner=user, name="Birds", description="Garden birds")


@pytest.fixture
def image(dataset):
    return DatasetImageFactory(dataset=dataset, label=LabelClassFactory(dataset=dataset, name="sparrow"))


# Detail


def test_detail_shows_the_class_chart_data_and_the_classes(user_client, dataset):
    sparrow = LabelClassFactory(dataset=dataset, name="sparrow")
    robin = LabelClassFactory(dataset=dataset, name="robin")
    DatasetImageFactory.create_batch(3, dataset=dataset, label=sparrow, split=Split.TRAIN)
    DatasetImageFactory(dataset=dataset, label=sparrow, split=Split.VAL)
    DatasetImageFactory(dataset=dataset, label=robin, split=Split.TEST)
    DatasetImageFactory(dataset=dataset, label=None)

    page = user_client.get(f"{detail_url(dataset)}?tab=train")

    assert page.status_code == 200
    assert page.context["chart_data"] == {
        "labels": ["robin", "sparrow"],
        "splits": [
            {"key": "train", "label": "Train", "counts": [0, 3]},
            {"key": "val", "label": "Validation", "counts": [0, 1]},
            {"key": "test", "label": "Test", "counts": [1, 0]},
        ],
    }
    assert 'id="class-chart"' in page.text
    assert 'id="class-chart-data"' in page.text
    assert "/static/vendor/chart.umd.min.js" in page.text
    assert page.context["unlabelled_count"] == 1
    assert page.context["dataset"].image_count == 6


def test_detail_without_classes_has_no_chart(user_client, dataset):
    page = user_client.get(f"{detail_url(dataset)}?tab=train")

    assert 'id="class-chart"' not in page.text
    assert "No classes yet." in page.text


def test_image_grid_filters_by_class_and_split(user_client, dataset):
    sparrow = LabelClassFactory(dataset=dataset, name="sparrow")
    robin = LabelClassFactory(dataset=dataset, name="robin")
    sparrow_train = DatasetImageFactory(dataset=dataset, label=sparrow, split=Split.TRAIN)
    sparrow_test = DatasetImageFactory(dataset=dataset, label=sparrow, split=Split.TEST)
    robin_train = DatasetImageFactory(dataset=dataset, label=robin, split=Split.TRAIN)
    unlabelled = DatasetImageFactory(dataset=dataset, label=None, split=Split.TRAIN)

    def shown(query: str) -> set[int]:
        return {image.pk for image in user_client.get(f"{detail_url(dataset)}?{query}").context["page_obj"]}

    assert shown("") == {sparrow_train.pk, sparrow_test.pk, robin_train.pk, unlabelled.pk}
    assert shown("label=sparrow") == {sparrow_train.pk, sparrow_test.pk}
    assert shown("label=sparrow&split=test") == {sparrow_test.pk}
    assert shown("split=train") == {sparrow_train.pk, robin_train.pk, unlabelled.pk}
    assert shown("label=-") == {unlabelled.pk}
    # An unknown filter value is ignored rather than answered with an error.
    assert len(shown("label=eagle")) == 4


def test_image_grid_is_paginated_and_keeps_its_filters(user_client, dataset, monkeypatch):
    monkeypatch.setattr(dataset_page, "IMAGES_PER_PAGE", 2)
    sparrow = LabelClassFactory(dataset=dataset, name="sparrow")
    DatasetImageFactory.create_batch(3, dataset=dataset, label=sparrow)
    DatasetImageFactory(dataset=dataset, label=None)

    first = user_client.get(f"{detail_url(dataset)}?tab=images&label=sparrow")
    second = user_client.get(f"{detail_url(dataset)}?tab=images&label=sparrow&page=2")

    assert len(first.context["page_obj"]) == 2
    assert len(second.context["page_obj"]) == 1
    assert "?tab=images&amp;label=sparrow&amp;page=2" in first.text
    thumbnail_url = reverse("classifier:image-thumbnail", args=[second.context["page_obj"][0].pk])
    assert f'src="{thumbnail_url}"' in second.text


# Classes


def test_add_a_class(user_client, dataset):
    response = user_client.post(reverse("classifier:label-class-create", args=[dataset.pk]), {"name": "wren"})

    assert response.status_code == 302
    assert list(dataset.classes.values_list("name", flat=True)) == ["wren"]


def test_add_a_class_needs_a_name(user_client, dataset):
    page = user_client.post(reverse("classifier:label-class-create", args=[dataset.pk]), {"name": "   "})

    assert page.status_code == 200
    assert "This field is required." in page.text
    assert not dataset.classes.exists()


def test_delete_a_class_keeps_its_images_unlabelled(user_client, dataset, image):
    response = user_client.post(reverse("classifier:label-class-delete", args=[dataset.pk, image.label_id]))

    assert response.status_code == 302
    assert not LabelClass.objects.filter(dataset=dataset).exists()
    image.refresh_from_db()
    assert image.label is None


# Splits


def test_reassign_splits_saves_the_settings(user_client, dataset):
    sparrow = LabelClassFactory(dataset=dataset, name="sparrow")
    DatasetImageFactory.create_batch(10, dataset=dataset, label=sparrow)

    response = user_client.post(
        reverse("classifier:dataset-splits", args=[dataset.pk]),
        {"val_fraction": "0.2", "test_fraction": "0.3", "seed": "7"},
        follow=True,
    )

    dataset.refresh_from_db()
    assert (dataset.val_fraction, dataset.test_fraction, dataset.split_seed) == (0.2, 0.3, 7)
    counts = dict(dataset.images.values_list("split").annotate(n=Count("id")))
    assert counts == {"train": 5, "val": 2, "test": 3}
    assert "Splits reassigned: 5 train, 2 validation, 3 test." in response.text


def test_split_fractions_must_leave_images_to_train_on(user_client, dataset):
    page = user_client.post(
        reverse("classifier:dataset-splits", args=[dataset.pk]),
        {"val_fraction": "0.6", "test_fraction": "0.5", "seed": "0"},
    )

    assert page.status_code == 200
    assert "must leave images for training" in page.text
    dataset.refresh_from_db()
    assert dataset.val_fraction == 0.1


def test_chart_data_is_valid_json_in_the_page(user_client, dataset, image):
    page = user_client.get(f"{detail_url(dataset)}?tab=train").text
    start = page.index('id="class-chart-data" type="application/json">') + len(
        'id="class-chart-data" type="application/json">'
    )

    data = json.loads(page[start : page.index("</script>", start)])

    assert data["labels"] == ["sparrow"]
