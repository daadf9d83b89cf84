"""Reviewing the label-issue queue: keep, relabel (to the suggestion or a named class) and delete, and
relabelling elsewhere dropping an issue."""

import pytest
from django.core.exceptions import ValidationError

from classifier.models import DatasetImage, LabelIssue
from classifier.services.images import image_relabel
from classifier.services.label_issue_reviews import label_issue_delete_image, label_issue_keep, label_issue_relabel
from classifier.services.label_issues import label_issues_start
from tests.classifier.label_issue_support import augmented_copy, colours_dataset, use_mean_colour_backbone

# Real commits: the job runs as the worker runs it, its end in its own transaction.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def backbone(monkeypatch):
    return use_mean_colour_backbone(monkeypatch)


@pytest.fixture
def planted(user):
    return colours_dataset(user)


def test_a_kept_image_is_not_asked_about_again_while_it_keeps_its_label(user, planted, backbone):
    dataset, wrong = planted
    label_issues_start(dataset=dataset, requested_by=user)
    kept = label_issue_keep(issue=LabelIssue.objects.get(image=wrong[0]))
    assert kept.reviewed_at is not None

    job = label_issues_start(dataset=dataset, requested_by=user)

    job.refresh_from_db()
    assert job.report["kept_before"] == 1
    kept.refresh_from_db()
    assert kept.status == LabelIssue.Status.KEPT and kept.job_id != job.id
    assert LabelIssue.objects.get(image=wrong[1]).status == LabelIssue.Status.OPEN


def test_relabel_to_the_suggestion_or_a_named_class_and_the_issue_goes(user, planted, backbone):
    dataset, wrong = planted
    label_issues_start(dataset=dataset, requested_by=user)
    first, second = (LabelIssue.objects.get(image=image) for image in wrong)
    DatasetImage.objects.filter(id=wrong[0].id).update(split=DatasetImage.Split.TRAIN)
    copy = augmented_copy(DatasetImage.objects.get(id=wrong[0].id), seed=5000)

    image = label_issue_relabel(issue=first)
    label_issue_relabel(issue=second, label_name="green")

    assert image.label.name == "red"
    copy.refresh_from_db()
    assert copy.label.name == "red"  # augmented copies follow their source
    assert DatasetImage.objects.get(id=wrong[1].id).label.name == "green"
    assert not LabelIssue.objects.filter(id__in=[first.id, second.id]).exists()


def test_keep_and_delete_from_the_queue(user, planted, backbone):
    dataset, wrong = planted
    label_issues_start(dataset=dataset, requested_by=user)
    first, second = (LabelIssue.objects.get(image=image) for image in wrong)

    label_issue_keep(issue=first)
    label_issue_delete_image(issue=second)

    assert LabelIssue.objects.get(id=first.id).status == LabelIssue.Status.KEPT
    assert not DatasetImage.objects.filter(id=wrong[1].id).exists()
    assert not LabelIssue.objects.filter(id=second.id).exists()


def test_relabelling_drops_an_open_issue_and_a_kept_one_only_when_the_label_changes(user, planted):
    dataset, planted_wrong = planted
    third = DatasetImage.objects.filter(dataset=dataset).exclude(id__in=[image.id for image in planted_wrong]).first()
    wrong = [*planted_wrong, third]
    labels = {image.id: image.label for image in wrong}
    open_issue = LabelIssue.objects.create(dataset=dataset, image=wrong[0], given_label=labels[wrong[0].id], score=0.9)
    kept_same, kept_changed = (
        LabelIssue.objects.create(
            dataset=dataset, image=image, given_label=labels[image.id], score=0.8, status=LabelIssue.Status.KEPT
        )
        for image in wrong[1:3]
    )
    other = next(name for name in ("red", "green", "blue") if name != labels[wrong[2].id].name)

    image_relabel(image=wrong[0], label_name="red")
    image_relabel(image=wrong[1], label_name=labels[wrong[1].id].name)
    image_relabel(image=wrong[2], label_name=other)

    assert not LabelIssue.objects.filter(id=open_issue.id).exists()
    # Kept with the label it still has: not asked again. Kept with a label it no longer has: gone.
    assert LabelIssue.objects.filter(id=kept_same.id).exists()
    assert not LabelIssue.objects.filter(id=kept_changed.id).exists()


def test_relabel_without_a_suggestion_asks_for_a_class(user, planted):
    dataset, wrong = planted
    issue = LabelIssue.objects.create(dataset=dataset, image=wrong[0], given_label=wrong[0].label, score=0.9)
    with pytest.raises(ValidationError, match="name the class"):
        label_issue_relabel(issue=issue)
    assert LabelIssue.objects.filter(id=issue.id).exists()
