"""Dataset pages: who may see and change datasets and images, writes by POST only, and form addresses
reloaded by the browser."""

import pytest
from django.urls import reverse

from classifier.models import Dataset, DatasetImage, LabelClass
from tests.classifier.dataset_pages_support import detail_url
from tests.factories import DatasetFactory, DatasetImageFactory, LabelClassFactory
from training_jobs.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(user):
    return DatasetFactory(owner=user, name="Birds", description="Garden birds")


@pytest.fixture
def image(dataset):
    return DatasetImageFactory(dataset=dataset, label=LabelClassFactory(dataset=dataset, name="sparrow"))


def _page_urls(dataset: Dataset, image: DatasetImage) -> list[str]:
    return [
        reverse("classifier:dataset-detail", args=[dataset.pk]),
        reverse("classifier:dataset-edit", args=[dataset.pk]),
        reverse("classifier:image-file", args=[image.pk]),
        reverse("classifier:image-thumbnail", args=[image.pk]),
    ]


def _write_urls(dataset: Dataset, image: DatasetImage) -> list[str]:
    label = image.label
    return [
        reverse("classifier:dataset-edit", args=[dataset.pk]),
        reverse("classifier:dataset-delete", args=[dataset.pk]),
        reverse("classifier:label-class-create", args=[dataset.pk]),
        reverse("classifier:label-class-delete", args=[dataset.pk, label.pk]),
        reverse("classifier:image-upload", args=[dataset.pk]),
        reverse("classifier:dataset-import", args=[dataset.pk]),
        reverse("classifier:dataset-splits", args=[dataset.pk]),
        reverse("classifier:image-relabel", args=[image.pk]),
        reverse("classifier:image-delete", args=[image.pk]),
    ]


# Access


def test_pages_send_strangers_to_sign_in(client, dataset, image):
    for url in [reverse("classifier:dataset-list"), *_page_urls(dataset, image)]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith(f"{reverse('login')}?next="), url


def test_another_users_objects_are_not_found(client, other_user, dataset, image):
    client.force_login(other_user)

    for url in _page_urls(dataset, image):
        assert client.get(url).status_code == 404, url
    for url in _write_urls(dataset, image):
        assert client.post(url, {"name": "x", "label": "x"}).status_code == 404, url
    assert Dataset.objects.filter(pk=dataset.pk, name="Birds").exists()
    assert DatasetImage.objects.filter(pk=image.pk, label__name="sparrow").exists()


def test_staff_can_view_everyones_datasets_and_images(client, staff_user, dataset, image):
    client.force_login(staff_user)

    assert "Birds" in client.get(reverse("classifier:dataset-list")).text
    for url in _page_urls(dataset, image):
        assert client.get(url).status_code == 200, url


# The forms the dataset page posts, and the tab each one lives on.
FORM_URL_TABS = {
    "label-class-create": "add",
    "image-upload": "add",
    "dataset-import": "add",
    "dataset-splits": "train",
    "dataset-augment": "train",
    "model-version-create": "train",
}


def test_writes_are_post_only(user_client, dataset, image):
    form_urls = {reverse(f"classifier:{name}", args=[dataset.pk]) for name in FORM_URL_TABS}
    for url in _write_urls(dataset, image)[1:]:
        if url not in form_urls:
            assert user_client.get(url).status_code == 405, url
    assert Dataset.objects.filter(pk=dataset.pk).exists()


def test_a_form_address_reloaded_goes_back_to_its_tab(user_client, dataset):
    """A refused form is shown at the address it posted to; reloading that address (a GET) must show the
    page, on the form's tab, not the browser's blank 405."""
    for name, tab in FORM_URL_TABS.items():
        response = user_client.get(reverse(f"classifier:{name}", args=[dataset.pk]))

        assert response.status_code == 302, name
        assert response.url == f"{detail_url(dataset)}?tab={tab}", name
    assert not Job.objects.exists()
    assert list(LabelClass.objects.filter(dataset=dataset)) == []
