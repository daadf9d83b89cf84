"""Finding and deleting stored files no row references (the beat sweep and the management command)."""

import os
import time
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command

from classifier.models import ModelVersion
from classifier.services.orphans import stored_orphans_delete, stored_orphans_find
from classifier.services.storage import model_version_folder
from classifier.tasks import delete_stored_orphans
from tests.factories import DatasetFactory, DatasetImageFactory, JobFactory
from training_jobs.models import Job

pytestmark = pytest.mark.django_db


def _save(name: str, *, hours_old: float = 48) -> str:
    stored = default_storage.save(name, ContentFile(b"bytes"))
    then = time.time() - hours_old * 3600
    os.utime(default_storage.path(stored), (then, then))
    return stored


@pytest.fixture
def files(user):
    dataset = DatasetFactory(owner=user)
    image = DatasetImageFactory(dataset=dataset)
    os.utime(default_storage.path(image.file.name), (time.time() - 99 * 3600,) * 2)
    ready = ModelVersion.objects.create(dataset=dataset, number=1, backbone="tiny", image_size=32, status="ready")
    ready_folder = model_version_folder(dataset_id=dataset.id, number=1, version_id=ready.id)
    ModelVersion.objects.filter(id=ready.id).update(tflite_file=_save(f"{ready_folder}/model.tflite"))
    training = ModelVersion.objects.create(dataset=dataset, number=2, backbone="tiny", image_size=32, status="training")
    training_folder = model_version_folder(dataset_id=dataset.id, number=2, version_id=training.id)
    running = JobFactory(requested_by=user, dataset=dataset, status=Job.Status.RUNNING,
                         params={"archive": _save("imports/running.zip")})
    JobFactory(requested_by=user, dataset=dataset, status=Job.Status.FAILED,
               params={"archive": _save("imports/failed-long-ago.zip")})
    return {
        "kept": sorted([
            image.file.name,
            _save(f"{ready_folder}/metadata.json"),
            f"{ready_folder}/model.tflite",
            _save(f"{training_folder}/checkpoints/checkpoint-000003.npz"),
            running.params["archive"],
            _save("imports/just-uploaded.zip", hours_old=0.1),
        ]),
        "orphans": sorted([
            "imports/failed-long-ago.zip",
            _save(f"{ready_folder}/old-build/model.tflite"),
            _save("batch-predictions/999/deleted-job.csv"),
            _save("datasets/12345/ab/gone.jpg"),
        ]),
    }


def test_orphans_are_files_no_row_references_and_no_unfinished_job_or_training_holds(files):
    assert stored_orphans_find(min_age=timedelta(hours=24)) == files["orphans"]


def test_deleting_orphans_keeps_everything_referenced_and_everything_young(files):
    assert delete_stored_orphans.apply().get() == len(files["orphans"])

    for name in files["kept"]:
        assert default_storage.exists(name), name
    for name in files["orphans"]:
        assert not default_storage.exists(name), name
    assert stored_orphans_delete() == []


def test_the_command_is_a_dry_run_unless_asked_to_delete(files, capsys):
    call_command("storage_orphans")
    listed = capsys.readouterr()
    assert listed.out.split() == files["orphans"]
    assert "a dry run: add --delete to remove them" in listed.err
    assert all(default_storage.exists(name) for name in files["orphans"])

    # An hour is still longer than the fresh upload's age: it stays.
    call_command("storage_orphans", "--delete", "--min-age-hours", "1")
    deleted = capsys.readouterr()
    assert deleted.out.split() == files["orphans"]
    assert default_storage.exists("imports/just-uploaded.zip")
    assert f"Deleted {len(files['orphans'])} stored file(s)" in deleted.err
