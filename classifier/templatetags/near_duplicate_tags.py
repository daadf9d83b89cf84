"""The dataset page's data-checks card reads its counts here, so the page's view needs no change."""

from typing import Any

from django import template

from classifier.models import Dataset
from classifier.selectors_near_duplicates import near_duplicate_groups, near_duplicate_summary

register = template.Library()


@register.simple_tag
def near_duplicate_state(dataset: Dataset) -> dict[str, Any]:
    """Near-duplicate groups, leaking groups, images in groups and images not hashed yet, from the stored
    hashes only: older images are hashed when the check's own page is opened, not on every dataset page."""
    return near_duplicate_summary(dataset=dataset, groups=near_duplicate_groups(dataset=dataset))
