"""The dataset page's label-issue card reads its counts here, so the page's view needs no change."""

from django import template

from classifier.models import Dataset, LabelIssue
from training_jobs.models import Job

register = template.Library()


@register.simple_tag
def label_issue_state(dataset: Dataset) -> dict:
    """The number of open issues and the latest label-issue job of the dataset (None if never run)."""
    return {
        "open": LabelIssue.objects.filter(dataset=dataset, status=LabelIssue.Status.OPEN).count(),
        "job": Job.objects.filter(dataset=dataset, kind=Job.Kind.LABEL_ISSUES).order_by("-created_at").first(),
    }
