"""Model version pages: who may see and change a version (strangers, other users, staff, public
datasets), and writes by POST only.

Versions are made directly as rows with stored metrics; nothing is trained here.
"""

import pytest
from django.urls import reverse

from classifier.models import ModelVersion
from tests.classifier.version_pages_support import (
    compare_url,
    detail_url,
    make_version,
    train_form_data,
    trainable_pets,
)
from tests.factories import DatasetFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(user):
    return trainable_pets(user)


@pytest.fixture
def version(dataset):
    return make_version(dataset, 1, is_active=True)


# Access


def test_version_pages_send_strangers_to_sign_in(client, version):
    for url in (detail_url(version), compare_url(version, version)):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith(f"{reverse('login')}?next="), url


def test_another_users_versions_are_not_found(client, other_user, dataset, version):
    client.force_login(other_user)
    mine = make_version(DatasetFactory(owner=other_user), 1)

    assert client.get(detail_url(version)).status_code == 404
    assert client.get(compare_url(mine, version)).status_code == 404
    assert client.post(reverse("classifier:model-version-promote", args=[version.pk])).status_code == 404
    create = reverse("classifier:model-version-create", args=[dataset.pk])
    assert client.post(create, train_form_data()).status_code == 404
    assert client.post(reverse("classifier:dataset-augment", args=[dataset.pk])).status_code == 404
    assert ModelVersion.objects.filter(dataset=dataset).count() == 1


def test_staff_can_view_any_version(client, staff_user, version):
    client.force_login(staff_user)
    other = make_version(version.dataset, 2)

    assert client.get(detail_url(version)).status_code == 200
    assert client.get(compare_url(version, other)).status_code == 200


def test_version_writes_are_post_only(user_client, dataset, version):
    # The train form's own address, reloaded, goes back to the dataset page's Train tab.
    assert user_client.get(reverse("classifier:model-version-create", args=[dataset.pk])).url.endswith("?tab=train")
    for url in (
        reverse("classifier:model-version-promote", args=[version.pk]),
        reverse("classifier:model-version-retrain", args=[version.pk]),
    ):
        assert user_client.get(url).status_code == 405, url


def test_a_public_version_page_is_readable_by_everyone_but_changeable_by_its_owner_only(client, other_user, user):
    public = DatasetFactory(owner=other_user, name="ImageNet-1k", is_public=True)
    version = make_version(public, 2, is_active=False)
    client.force_login(user)

    page = client.get(detail_url(version))

    assert page.status_code == 200
    assert page.context["can_change"] is False
    for button in ('id="version-promote"', 'id="version-delete"', 'id="version-retrain"', 'id="version-live"'):
        assert button not in page.text, button
    # Its dataset page is its owner's: the breadcrumb leads to the ready-made models instead.
    assert reverse("classifier:dataset-detail", args=[public.pk]) not in page.text
    assert client.post(reverse("classifier:model-version-promote", args=[version.pk])).status_code == 404
    assert client.post(reverse("classifier:model-version-delete", args=[version.pk])).status_code == 404
    version.refresh_from_db()
    assert version.is_active is False
