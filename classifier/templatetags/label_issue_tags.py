"""The dataset page's label-issue card reads its counts here, so the page's view needs no change."""

from typing import Any

from django import template

from classifier.models import Dataset
from classifier.selectors import label_issues_open_count
from training_jobs.models import Job

register = template.Library()


@register.simple_tag
def label_issue_state(dataset: Dataset) -> dict[str, Any]:
    """The number of open issues and the latest label-issue job of the dataset (None if never run)."""
    return {
        "open": label_issues_open_count(dataset=dataset),
        "job": Job.objects.filter(dataset=dataset, kind=Job.Kind.LABEL_ISSUES).order_by("-created_at").first(),
    }
