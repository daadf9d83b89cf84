"""Scoring versions again on the same images (a job): on the dataset's current test split, on a version's
manifest test set, and what a cancel, a deleted version and a resumed attempt leave behind."""

import pytest
from django.core.exceptions import ValidationError
from django.db import OperationalError

from classifier.models import DatasetImage, LabelClass, ModelVersion
from classifier.services import scoring
from classifier.services.model_versions import model_version_delete
from classifier.services.quotas import QuotaExceeded
from classifier.services.scoring import model_versions_score_start
from classifier.services.serving import ServingModel
from tests.classifier.version_data import colour_test_split, manifest_for
from tests.factories import DatasetFactory
from tests.models import OTHER_CLASSES
from training_jobs import services as job_services
from training_jobs.models import Job
from training_jobs.services import job_cancel

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(user):
    dataset = DatasetFactory(owner=user, name="Colours")
    colour_test_split(dataset)
    return dataset


@pytest.fixture
def versions(dataset, make_ready_version):
    """v1 knows red, green and blue; v2 blue, yellow and red (so it skips the green pictures)."""
    return make_ready_version(dataset, 1, is_active=True), make_ready_version(dataset, 2, classes=OTHER_CLASSES)


def _score(user, versions, capture, manifest_version=None) -> Job:
    with capture(execute=True):
        job = model_versions_score_start(requested_by=user, versions=list(versions), manifest_version=manifest_version)
    job.refresh_from_db()
    return job


def _results(job: Job) -> dict[int, dict]:
    return {result["number"]: result for result in job.report["results"]}


def test_versions_are_scored_on_the_current_test_split_skipping_labels_they_do_not_know(
    user, versions, django_capture_on_commit_callbacks
):
    job = _score(user, versions, django_capture_on_commit_callbacks)

    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.kind == Job.Kind.SCORE and job.model_version_id is None
    assert job.report["test_set"] == "current" and job.report["images"] == 7
    first, second = _results(job)[1], _results(job)[2]
    # 2 red, 2 green, 2 blue and a red picture labelled blue, which both get "wrong".
    assert (first["scored"], first["correct"], first["skipped"], first["missing"]) == (7, 6, 0, 0)
    assert first["accuracy"] == pytest.approx(6 / 7)
    assert (second["scored"], second["correct"], second["skipped"], second["missing"]) == (5, 4, 2, 0)
    assert second["accuracy"] == pytest.approx(0.8)
    assert "v1 85.7%" in job.message and "v2 80.0%" in job.message


def test_the_current_split_uses_labels_as_they_are_now(user, dataset, versions, django_capture_on_commit_callbacks):
    wrong = DatasetImage.objects.get(original_name="wrong0.png")
    wrong.label = LabelClass.objects.get(dataset=dataset, name="red")
    wrong.save()

    job = _score(user, versions[:1], django_capture_on_commit_callbacks)

    assert _results(job)[1]["accuracy"] == 1.0


def test_a_manifest_test_set_keeps_the_labels_it_had_and_counts_deleted_images_missing(
    user, dataset, versions, django_capture_on_commit_callbacks
):
    first, second = versions
    manifest_for(first)
    # Since then: the mislabelled picture fixed, a red one deleted, and a new test image added.
    wrong = DatasetImage.objects.get(original_name="wrong0.png")
    wrong.label = LabelClass.objects.get(dataset=dataset, name="red")
    wrong.save()
    DatasetImage.objects.get(original_name="red1.png").delete()
    colour_test_split(DatasetFactory(owner=user, name="elsewhere"))  # another dataset's images stay out

    job = _score(user, versions, django_capture_on_commit_callbacks, manifest_version=first)

    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.report["test_set"] == "manifest" and job.report["manifest_version"] == first.id
    assert job.report["images"] == 7
    result = _results(job)[1]
    # The manifest still says "blue" for the red picture, so it is still wrong; red1 is gone.
    assert (result["scored"], result["correct"], result["missing"]) == (6, 5, 1)
    assert _results(job)[2]["missing"] == 1 and _results(job)[2]["skipped"] == 2


def test_bad_requests_are_refused_naming_the_problem_and_create_no_job(
    user, dataset, versions, make_ready_version
):
    first, second = versions
    other = make_ready_version(DatasetFactory(owner=user, name="Other"), 1)
    training = make_ready_version(dataset, 3, status=ModelVersion.Status.TRAINING)
    cases = [
        ([], None, "at least one version"),
        ([first, first], None, "named twice"),
        ([first, other], None, "different datasets (Colours, Other)"),
        ([first, training], None, "is training, not ready"),
        ([first, second], other, "is not a version of Colours"),
        ([first, second], second, "has no manifest"),
    ]
    for chosen, manifest_version, message in cases:
        with pytest.raises(ValidationError) as error:
            model_versions_score_start(requested_by=user, versions=chosen, manifest_version=manifest_version)
        assert message in str(error.value), (message, error.value)
    assert not Job.objects.exists()


def test_scoring_counts_against_the_active_jobs_quota(user, versions, settings):
    settings.SIGHTLINE_QUOTA_ACTIVE_JOBS = 1
    model_versions_score_start(requested_by=user, versions=list(versions))  # queued: on_commit never runs here
    with pytest.raises(QuotaExceeded) as error:
        model_versions_score_start(requested_by=user, versions=list(versions))
    assert error.value.quota == "active_jobs"
    assert Job.objects.count() == 1


def test_a_cancelled_scoring_stops_and_reports_nothing(
    user, versions, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(scoring, "BATCH_SIZE", 1)
    answered = []
    real_answer = ServingModel.answer

    def counting_answer(self, pixels):
        answered.append(len(pixels))
        return real_answer(self, pixels)

    monkeypatch.setattr(ServingModel, "answer", counting_answer)
    real_progress = job_services.ProgressReporter.__call__

    def cancel_after_two_images(self, progress, message="", **options):
        if message.startswith("Scoring v1: 2 of"):
            job_cancel(job=Job.objects.get(id=self.job_id))
        # Unthrottled: a real job sees the cancel at its next write, within half a second.
        return real_progress(self, progress, message, force=True)

    monkeypatch.setattr(job_services.ProgressReporter, "__call__", cancel_after_two_images)

    job = _score(user, versions, django_capture_on_commit_callbacks)

    assert job.status == Job.Status.CANCELLED
    assert job.report == {}
    assert len(answered) <= 3, "the scoring stops at the next image once cancelled"
    assert ModelVersion.objects.count() == 2


def test_a_version_deleted_during_the_job_is_reported_deleted_and_the_others_scored(
    user, versions, monkeypatch, django_capture_on_commit_callbacks
):
    first, second = versions
    real_score = scoring._version_score

    def delete_the_second_while_scoring_the_first(*, version, **kwargs):
        if version.id == first.id:
            model_version_delete(version=ModelVersion.objects.get(id=second.id))
        return real_score(version=version, **kwargs)

    monkeypatch.setattr(scoring, "_version_score", delete_the_second_while_scoring_the_first)

    job = _score(user, versions, django_capture_on_commit_callbacks)

    assert job.status == Job.Status.SUCCEEDED, job.error
    assert not ModelVersion.objects.filter(id=second.id).exists()
    assert _results(job)[1]["accuracy"] == pytest.approx(6 / 7)
    assert _results(job)[2] == {"model_version": second.id, "number": 2, "error": "Deleted before it was scored."}


def test_a_version_deleted_while_it_is_scored_gets_no_score(
    user, versions, monkeypatch, django_capture_on_commit_callbacks
):
    first, _second = versions
    real_score = scoring._version_score

    def deleted_meanwhile(*, version, **kwargs):
        result = real_score(version=version, **kwargs)
        if version.id == first.id:
            ModelVersion.objects.filter(id=first.id).update(is_active=False)
            model_version_delete(version=ModelVersion.objects.get(id=first.id))
        return result

    monkeypatch.setattr(scoring, "_version_score", deleted_meanwhile)

    job = _score(user, versions, django_capture_on_commit_callbacks)

    assert job.status == Job.Status.SUCCEEDED, job.error
    assert _results(job)[1]["accuracy"] is None
    assert _results(job)[1]["error"] == "Deleted while the scoring ran."
    assert _results(job)[2]["accuracy"] == pytest.approx(0.8)


def test_when_every_version_is_gone_the_job_fails_saying_so(
    user, versions, monkeypatch, django_capture_on_commit_callbacks
):
    real_test_set = scoring._test_set

    def everything_deleted(job):
        found = real_test_set(job)
        ModelVersion.objects.filter(dataset_id=job.dataset_id).delete()
        return found

    monkeypatch.setattr(scoring, "_test_set", everything_deleted)

    job = _score(user, versions, django_capture_on_commit_callbacks)

    assert job.status == Job.Status.FAILED
    assert job.error.startswith("None of the versions could be scored: v1: Deleted before it was scored.")


def test_a_manifest_version_deleted_before_the_job_ran_fails_it(
    user, versions, django_capture_on_commit_callbacks
):
    first, second = versions
    manifest_for(first)
    job = model_versions_score_start(requested_by=user, versions=[second], manifest_version=first)
    ModelVersion.objects.filter(id=first.id).delete()
    with django_capture_on_commit_callbacks(execute=True):
        job_services.job_send(job_id=job.id)

    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "whose test set was to be used was deleted" in job.error


def test_an_attempt_interrupted_by_a_temporary_error_resumes_and_scores_once(
    user, versions, monkeypatch, django_capture_on_commit_callbacks
):
    real_test_set = scoring._test_set
    calls = []

    def lost_database_once(job):
        calls.append(job.attempts)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real_test_set(job)

    monkeypatch.setattr(scoring, "_test_set", lost_database_once)

    job = _score(user, versions, django_capture_on_commit_callbacks)

    assert calls == [1, 2]
    assert (job.status, job.attempts) == (Job.Status.SUCCEEDED, 2), job.error
    assert [result["number"] for result in job.report["results"]] == [1, 2]
    assert _results(job)[1]["scored"] == 7
