"""Who has which quotas (staff none; an account its own), the usage panel and API, the admin page, and
the migration that measured images stored before sizes were kept."""

import importlib

import pytest
from django.apps import apps
from django.core.files.storage import default_storage
from django.urls import reverse

from classifier.models import AccountQuota, ModelVersion
from tests.classifier.quota_support import GPU_JOBS_FULL, jpeg_upload, train, trainable_dataset, upload
from tests.factories import DatasetFactory, DatasetImageFactory, JobFactory
from training_jobs.models import Job

pytestmark = pytest.mark.django_db


# Who has which limits


def test_staff_have_no_quotas(staff_user, staff_api, settings):
    settings.SIGHTLINE_QUOTA_IMAGES = 1
    settings.SIGHTLINE_QUOTA_TRAINING_MINUTES_PER_DAY = 1
    dataset = trainable_dataset(staff_user)

    assert upload(staff_api, dataset, [jpeg_upload("a.jpg", 1)]).status_code == 201
    assert [train(staff_api, dataset).status_code for _ in range(2)] == [202, 202]
    assert {quota["allowed"] for quota in staff_api.get("/api/v1/usage/").json().values()} == {None}


def test_an_accounts_own_quota_replaces_the_default(user, user_api, settings):
    settings.SIGHTLINE_QUOTA_IMAGES = 1
    AccountQuota.objects.create(user=user, images=0, active_gpu_jobs=2)
    dataset = trainable_dataset(user)

    assert upload(user_api, dataset, [jpeg_upload("a.jpg", 1)]).status_code == 201
    assert [train(user_api, dataset).status_code for _ in range(3)] == [202, 202, 429]
    usage = user_api.get("/api/v1/usage/").json()
    assert (usage["images"]["allowed"], usage["active_gpu_jobs"]) == (None, {"used": 2, "allowed": 2})


def test_usage_says_what_the_account_uses_and_may(user, other_user, user_api, api_client):
    dataset = DatasetFactory(owner=user)
    DatasetImageFactory(dataset=dataset, stored_bytes=1500)
    DatasetImageFactory(dataset=dataset, stored_bytes=500)
    DatasetImageFactory(dataset=DatasetFactory(owner=other_user))
    JobFactory(requested_by=user, kind=Job.Kind.TRAIN)
    JobFactory(requested_by=user, kind=Job.Kind.IMPORT, status=Job.Status.SUCCEEDED)

    response = user_api.get("/api/v1/usage/")

    assert response.status_code == 200
    assert response.json() == {
        "images": {"used": 2, "allowed": 20_000},
        "storage_bytes": {"used": 2000, "allowed": 5 * 1024**3},
        "active_jobs": {"used": 1, "allowed": 3},
        "active_gpu_jobs": {"used": 1, "allowed": 1},
        "training_minutes": {"used": 0.0, "allowed": 240},
    }
    assert api_client.get("/api/v1/usage/").status_code in (401, 403)


# Pages and the admin


def test_a_training_refused_on_the_page_says_why_on_the_form(user, user_client):
    dataset = trainable_dataset(user)
    JobFactory(requested_by=user, kind=Job.Kind.TRAIN)

    response = user_client.post(
        reverse("classifier:model-version-create", args=[dataset.pk]),
        {"budget": "quick", "backbone": "efficientnet_lite0", "weights": "imagenet", "augment": "yes"},
    )

    assert response.status_code == 200
    assert GPU_JOBS_FULL in response.content.decode()
    assert not ModelVersion.objects.filter(dataset=dataset).exists()


def test_the_datasets_page_shows_the_usage_panel(user, user_client):
    DatasetImageFactory(dataset=DatasetFactory(owner=user), stored_bytes=2048)

    page = user_client.get(reverse("classifier:dataset-list")).content.decode()

    assert 'id="usage"' in page
    assert "1 of 20,000" in page
    assert "2.0\xa0KB of 5.0\xa0GB" in page


def test_staff_set_an_accounts_own_quota_on_its_admin_page(client, staff_user, user):
    AccountQuota.objects.create(user=user, images=50)
    client.force_login(staff_user)

    page = client.get(f"/admin/auth/user/{user.pk}/change/")

    assert page.status_code == 200
    assert b'name="account_quota-0-images"' in page.content
    assert b'value="50"' in page.content


def test_the_migration_measures_images_stored_before_sizes_were_kept(user):
    kept = DatasetImageFactory(dataset=DatasetFactory(owner=user))
    lost = DatasetImageFactory(dataset=kept.dataset)
    default_storage.delete(lost.file.name)
    migration = importlib.import_module("classifier.migrations.0008_account_quotas")

    migration.stored_bytes_fill(apps, None)

    kept.refresh_from_db()
    lost.refresh_from_db()
    assert kept.stored_bytes == default_storage.size(kept.file.name) > 0
    assert lost.stored_bytes == 0
