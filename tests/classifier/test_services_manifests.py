"""A version's manifest: written by its training, read back for drift, gone with the version, and never
left behind by a training that did not finish."""

import gzip
import io
from datetime import timedelta

import pandas as pd
import pytest
from django.core.files.storage import default_storage

from classifier.ml import calibration
from classifier.models import DatasetImage, LabelClass, ModelVersion
from classifier.selectors_versions import model_version_data_summary
from classifier.services import training
from classifier.services.manifests import (
    MANIFEST_NAME,
    ManifestMissing,
    manifest_rows,
    manifest_store,
    manifest_summary_text,
)
from classifier.services.model_versions import model_version_delete
from classifier.services.orphans import stored_orphans_find
from classifier.services.training_observer import JobObserver
from tests.classifier.test_services_training import _train, dataset  # noqa: F401 - the tiny trainings' fixture
from tests.factories import DatasetFactory, DatasetImageFactory, LabelClassFactory
from training_jobs.models import Job
from training_jobs.services import job_cancel

pytestmark = pytest.mark.django_db


def _frame(name: str) -> pd.DataFrame:
    with default_storage.open(name, "rb") as file:
        return pd.read_csv(io.BytesIO(gzip.decompress(file.read())), dtype=str, keep_default_na=False)


def test_training_stores_a_manifest_of_every_image_it_used_and_drift_is_counted_since(
    dataset, user, django_capture_on_commit_callbacks, django_assert_num_queries  # noqa: F811
):
    unlabelled = DatasetImageFactory(dataset=dataset, label=None, split=DatasetImage.Split.TEST)
    version, job = _train(dataset, user, django_capture_on_commit_callbacks, epochs=1)

    assert job.status == Job.Status.SUCCEEDED, job.error
    assert version.manifest_file.name == f"{version.keras_file.name.rsplit('/', 1)[0]}/{MANIFEST_NAME}"
    frame = _frame(version.manifest_file.name)
    assert list(frame.columns) == ["image_id", "sha256", "split", "label", "original_name"]
    images = {image.id: image for image in DatasetImage.objects.filter(dataset=dataset).select_related("label")}
    assert len(frame) == 24 and str(unlabelled.id) not in set(frame["image_id"])
    for row in frame.itertuples():
        image = images[int(row.image_id)]
        assert (row.sha256, row.split, row.label, row.original_name) == (
            image.sha256, image.split, image.label.name, image.original_name
        )
    assert frame["split"].value_counts().to_dict() == version.metrics["split_sizes"]

    with django_assert_num_queries(1):
        summary = model_version_data_summary(version=version)
    assert summary == {"splits": {"train": 20, "val": 2, "test": 2}, "drift": {"relabelled": 0, "moved": 0,
                                                                                "deleted": 0}}
    test_images = DatasetImage.objects.filter(dataset=dataset, split="test").order_by("id")
    relabelled, deleted = test_images[0], test_images[1]
    relabelled.label = LabelClass.objects.get(dataset=dataset, name="blue" if relabelled.label.name == "red" else "red")
    relabelled.save()
    DatasetImage.objects.filter(id=deleted.id).delete()
    moved = DatasetImage.objects.filter(dataset=dataset, split="train").first()
    DatasetImage.objects.filter(id=moved.id).update(split="val", label=None)

    summary = model_version_data_summary(version=version)
    assert summary["drift"] == {"relabelled": 2, "moved": 1, "deleted": 1}
    assert manifest_summary_text(summary) == (
        "Trained on 20/2/2 images (train/validation/test); since then 2 relabelled, 1 moved to another split, "
        "1 deleted."
    )
    # A ready version's manifest is referenced, not an orphan; deleting the version deletes it.
    assert version.manifest_file.name not in stored_orphans_find(min_age=timedelta(0))
    with django_capture_on_commit_callbacks(execute=True):
        model_version_delete(version=version, allow_active=True)
    assert not default_storage.exists(version.manifest_file.name)


def test_a_cancelled_training_leaves_no_manifest(
    dataset, user, django_capture_on_commit_callbacks, monkeypatch  # noqa: F811
):
    original = JobObserver.on_epoch_end
    written = []
    real_store = training.manifest_store

    def recording_store(**kwargs):
        written.append(real_store(**kwargs))
        return written[-1]

    def cancel_after_first_epoch(self, epoch, phase, logs):
        original(self, epoch, phase, logs)
        job_cancel(job=self.job)

    monkeypatch.setattr(training, "manifest_store", recording_store)
    monkeypatch.setattr(JobObserver, "on_epoch_end", cancel_after_first_epoch)
    version, job = _train(dataset, user, django_capture_on_commit_callbacks, epochs=5)

    assert (job.status, version.status) == (Job.Status.CANCELLED, ModelVersion.Status.CANCELLED)
    assert len(written) == 1, "the manifest was written before the cancel"
    assert not default_storage.exists(written[0])
    assert not version.manifest_file


def test_a_failed_training_leaves_no_manifest(
    dataset, user, django_capture_on_commit_callbacks, monkeypatch  # noqa: F811
):
    def diverged(*args, **kwargs):
        raise ValueError("the validation logits are not finite")

    monkeypatch.setattr(calibration, "fit_temperature", diverged)
    version, job = _train(dataset, user, django_capture_on_commit_callbacks, epochs=1)

    assert (job.status, version.status) == (Job.Status.FAILED, ModelVersion.Status.FAILED)
    assert "not finite" in job.error
    assert not version.manifest_file
    assert not default_storage.exists(f"{job.params['folder']}/{MANIFEST_NAME}")


def test_a_manifest_round_trips_labels_pandas_would_read_as_missing(user):
    owned = DatasetFactory(owner=user)
    odd = [LabelClassFactory(dataset=owned, name=name) for name in ("NA", "null", "1,5", 'say "hi"')]
    images = [DatasetImageFactory(dataset=owned, label=label, split="test", original_name="") for label in odd]
    name = manifest_store(folder="models/odd", images_by_split={"test": images})
    again = manifest_store(folder="models/odd", images_by_split={"test": images})

    assert name == again == f"models/odd/{MANIFEST_NAME}", "a second attempt replaces the file"
    version = ModelVersion(dataset=owned, number=1, manifest_file=name)
    rows = manifest_rows(version=version, split="test")
    assert [(row.image_id, row.label) for row in rows] == [(image.id, image.label.name) for image in images]
    assert manifest_rows(version=version, split="train") == []


def test_versions_without_a_manifest_have_no_data_summary(user):
    version = ModelVersion(dataset=DatasetFactory(owner=user), number=1)
    assert model_version_data_summary(version=version) is None
    with pytest.raises(ManifestMissing, match="trained before manifests were kept"):
        manifest_rows(version=version)
    version.manifest_file = "models/gone/manifest.csv.gz"
    with pytest.raises(ManifestMissing, match="missing from storage"):
        manifest_rows(version=version)
