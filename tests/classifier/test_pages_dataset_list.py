"""Dataset pages: the list, create, edit and delete."""

import pytest
from django.urls import reverse

from classifier.models import Dataset
from tests.classifier.dataset_pages_support import detail_url
from tests.factories import DatasetFactory, DatasetImageFactory, LabelClassFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(user):
    return DatasetFactory(owner=user, name="Birds", description="Garden birds")


@pytest.fixture
def image(dataset):
    return DatasetImageFactory(dataset=dataset, label=LabelClassFactory(dataset=dataset, name="sparrow"))


# List and create


def test_dataset_list_shows_only_my_datasets(user_client, dataset, other_user):
    DatasetFactory(owner=other_user, name="Bob's cats")
    DatasetImageFactory(dataset=dataset)

    page = user_client.get(reverse("classifier:dataset-list"))

    assert page.status_code == 200
    assert "Birds" in page.text
    assert "Bob&#x27;s cats" not in page.text
    assert list(page.context["datasets"]) == [dataset]
    assert page.context["datasets"][0].image_count == 1


def test_create_a_dataset_from_the_list_page(user_client, user):
    response = user_client.post(
        reverse("classifier:dataset-create"), {"name": "  Flowers ", "description": "Tulips"}
    )

    dataset = Dataset.objects.get(owner=user)
    assert response.status_code == 302
    assert response.url == detail_url(dataset)
    assert (dataset.name, dataset.description) == ("Flowers", "Tulips")
    assert "Dataset &quot;Flowers&quot; created." in user_client.get(response.url).text


def test_create_shows_a_taken_name_on_the_form(user_client, dataset):
    page = user_client.post(reverse("classifier:dataset-create"), {"name": "Birds"})

    assert page.status_code == 200
    assert "You already have a dataset named &quot;Birds&quot;." in page.text
    assert Dataset.objects.filter(name="Birds").count() == 1


def test_create_needs_a_name(user_client, user):
    page = user_client.post(reverse("classifier:dataset-create"), {"name": ""})

    assert "This field is required." in page.text
    assert not Dataset.objects.filter(owner=user).exists()


# Edit and delete datasets


def test_edit_a_dataset(user_client, dataset):
    url = reverse("classifier:dataset-edit", args=[dataset.pk])
    assert 'value="Birds"' in user_client.get(url).text

    response = user_client.post(url, {"name": "Wild birds", "description": "Seen outside"})

    assert response.status_code == 302
    dataset.refresh_from_db()
    assert (dataset.name, dataset.description) == ("Wild birds", "Seen outside")


def test_edit_shows_a_taken_name(user_client, user, dataset):
    DatasetFactory(owner=user, name="Cats")

    page = user_client.post(reverse("classifier:dataset-edit", args=[dataset.pk]), {"name": "Cats"})

    assert page.status_code == 200
    assert "You already have a dataset named &quot;Cats&quot;." in page.text
    dataset.refresh_from_db()
    assert dataset.name == "Birds"


def test_delete_a_dataset(user_client, dataset, image):
    response = user_client.post(reverse("classifier:dataset-delete", args=[dataset.pk]))

    assert response.status_code == 302
    assert response.url == reverse("classifier:dataset-list")
    assert not Dataset.objects.filter(pk=dataset.pk).exists()


def test_a_long_dataset_name_keeps_to_its_card_with_the_whole_name_in_its_title(user_client, user):
    name = "Birds-of-the-northern-hemisphere-photographed-at-the-feeder-" * 3
    dataset = DatasetFactory(owner=user, name=name.strip("-"))
    LabelClassFactory(dataset=dataset, name="great-spotted-woodpecker-juvenile-plumage")

    page = user_client.get(reverse("classifier:dataset-list"))

    # The stylesheet cuts the card's title to two lines and breaks long words; the title shows it whole.
    assert f'<h2 class="dataset-card-title" title="{dataset.name}">' in page.text
    assert 'title="great-spotted-woodpecker-juvenile-plumage"' in page.text
