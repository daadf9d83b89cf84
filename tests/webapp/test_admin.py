"""Staff see and manage every user's rows in the Django admin; other users cannot get in."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from classifier.models import Dataset, ModelVersion
from classifier.services.storage import model_version_folder
from tests.factories import DatasetFactory, DatasetImageFactory, JobFactory
from training_jobs.models import Job


def test_staff_see_every_users_datasets_images_and_jobs(client, staff_user, user, other_user):
    DatasetFactory(owner=user, name="alice birds")
    DatasetImageFactory(dataset=DatasetFactory(owner=other_user, name="bob bills"), original_name="bill.jpg")
    JobFactory(requested_by=other_user)
    client.force_login(staff_user)

    datasets = client.get("/admin/classifier/dataset/")
    assert datasets.status_code == 200
    assert b"alice birds" in datasets.content and b"bob bills" in datasets.content
    assert b"bill.jpg" in client.get("/admin/classifier/datasetimage/").content
    assert client.get("/admin/training_jobs/job/").status_code == 200


def test_non_staff_are_sent_to_the_admin_login(client, user):
    client.force_login(user)
    response = client.get("/admin/classifier/dataset/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


# Deleting from the admin goes through the services: running jobs are cancelled, files removed.


def _delete(client, path: str) -> None:
    response = client.post(path, {"post": "yes"})
    assert response.status_code == 302, response.content[:500]


@pytest.mark.django_db(transaction=True)
def test_a_dataset_deleted_in_the_admin_cancels_its_jobs_and_takes_its_files(client, staff_user, user):
    dataset = DatasetFactory(owner=user)
    image = DatasetImageFactory(dataset=dataset)
    archive = default_storage.save("imports/pending.zip", ContentFile(b"zip"))
    JobFactory(requested_by=user, dataset=dataset, status=Job.Status.RUNNING, attempts=1,
               params={"archive": archive})
    client.force_login(staff_user)

    _delete(client, f"/admin/classifier/dataset/{dataset.id}/delete/")

    assert not Dataset.objects.filter(id=dataset.id).exists() and not Job.objects.exists()
    assert not default_storage.exists(image.file.name)
    assert not default_storage.exists(archive)


@pytest.mark.django_db(transaction=True)
def test_the_bulk_delete_action_takes_every_selected_datasets_files(client, staff_user, user):
    images = [DatasetImageFactory(dataset=DatasetFactory(owner=user)) for _ in range(2)]
    client.force_login(staff_user)

    response = client.post(
        "/admin/classifier/dataset/",
        {"action": "delete_selected", "_selected_action": [i.dataset_id for i in images], "post": "yes"},
    )

    assert response.status_code == 302
    assert not Dataset.objects.exists()
    assert not any(default_storage.exists(image.file.name) for image in images)


@pytest.mark.django_db(transaction=True)
def test_a_version_or_job_deleted_in_the_admin_takes_its_files(client, staff_user, user):
    dataset = DatasetFactory(owner=user)
    version = ModelVersion.objects.create(dataset=dataset, number=1, backbone="tiny", image_size=32,
                                          status="ready", is_active=True)
    folder = model_version_folder(dataset_id=dataset.id, number=1, version_id=version.id)
    model = default_storage.save(f"{folder}/model.tflite", ContentFile(b"model"))
    ModelVersion.objects.filter(id=version.id).update(tflite_file=model)
    result = default_storage.save("batch-predictions/7/result.csv", ContentFile(b"filename,label\n"))
    job = JobFactory(requested_by=user, dataset=dataset, kind=Job.Kind.BATCH_PREDICT, status="succeeded",
                     result_file=result, params={})
    client.force_login(staff_user)

    _delete(client, f"/admin/classifier/modelversion/{version.id}/delete/")
    _delete(client, f"/admin/training_jobs/job/{job.id}/delete/")

    assert not ModelVersion.objects.exists() and not Job.objects.exists()
    assert not default_storage.exists(model) and not default_storage.exists(result)
