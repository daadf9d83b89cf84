"""The owner's review of the label-issue queue (``services.label_issues`` fills it): keep the label, give the
image another (the suggested one by default), or delete the image. Each answer takes the issue out of the queue.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from classifier.models import DatasetImage, LabelIssue
from classifier.services.image_deletion import image_delete
from classifier.services.images import image_relabel


def label_issue_keep(*, issue: LabelIssue) -> LabelIssue:
    """The label is right: the issue leaves the queue, and later jobs do not ask while the label stays."""
    issue.status = LabelIssue.Status.KEPT
    issue.reviewed_at = timezone.now()
    issue.save(update_fields=["status", "reviewed_at"])
    return issue


@transaction.atomic
def label_issue_relabel(*, issue: LabelIssue, label_name: str | None = None) -> DatasetImage:
    """Give the image ``label_name``, or the suggested label; the issue goes (the relabel drops it)."""
    name = (label_name or "").strip()
    if not name:
        if issue.suggested_label is None:
            raise ValidationError({"label": "The suggested class was deleted: name the class to give the image."})
        name = issue.suggested_label.name
    image = image_relabel(image=issue.image, label_name=name)
    LabelIssue.objects.filter(id=issue.id).delete()
    return image


def label_issue_delete_image(*, issue: LabelIssue) -> None:
    """Delete the issue's image (and with it the issue, and the image's augmented copies)."""
    image_delete(image=issue.image)
