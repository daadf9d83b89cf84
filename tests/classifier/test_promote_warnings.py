"""Compare and promote say when a version scores lower than the active one, and when the two were
scored on different test images (added, removed or relabelled in between)."""

import pytest
from django.urls import reverse

from classifier.selectors_versions import model_version_promote_warnings, model_versions_test_sets
from tests.classifier.version_pages_support import make_version
from tests.factories import DatasetFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(user):
    return DatasetFactory(owner=user, name="Bills")


def _metrics(accuracy: float, digest: str, count: int = 9) -> dict:
    return {
        "accuracy": accuracy,
        "split_sizes": {"train": 30, "val": 9, "test": count},
        "test_set": {"count": count, "digest": digest},
    }


def test_a_lower_score_on_another_test_set_is_said_before_promoting(user_client, dataset):
    active = make_version(dataset, 2, is_active=True, metrics=_metrics(1.0, "aaa"))
    newer = make_version(dataset, 3, is_active=False, metrics=_metrics(0.7777777, "bbb"))

    warnings = model_version_promote_warnings(version=newer, active=active)

    assert warnings[0] == "v3 scores lower than the active v2: 77.8% against 100.0% test accuracy."
    assert "scored on different test sets" in warnings[1]
    page = user_client.get(reverse("classifier:model-version-detail", args=[newer.pk]))
    assert 'id="promote-warnings"' in page.text
    assert "v3 scores lower than the active v2" in page.text
    # The confirm question itself carries the warnings.
    assert 'data-confirm="Make v3 the active version? v3 scores lower' in page.text
    table = user_client.get(reverse("classifier:dataset-detail", args=[dataset.pk]) + "?tab=versions").text
    assert "⚠ scores lower" in table


def test_a_better_version_on_the_same_test_set_promotes_without_warnings(dataset):
    active = make_version(dataset, 1, is_active=True, metrics=_metrics(0.8, "same"))
    newer = make_version(dataset, 2, is_active=False, metrics=_metrics(0.9, "same"))

    assert model_version_promote_warnings(version=newer, active=active) == []
    assert model_versions_test_sets(newer, active) == {
        "same": True,
        "text": "Both were scored on the same 9 test images.",
    }


def test_older_versions_without_a_digest_compare_by_count_or_say_it_is_unknown(dataset):
    a = make_version(dataset, 1, metrics={"accuracy": 0.9, "split_sizes": {"test": 9}})
    b = make_version(dataset, 2, metrics={"accuracy": 0.9, "split_sizes": {"test": 12}})
    c = make_version(dataset, 3, metrics={"accuracy": 0.9, "split_sizes": {"test": 9}})

    assert model_versions_test_sets(a, b)["same"] is False
    assert model_versions_test_sets(a, c)["same"] is None


def test_the_comparison_warns_when_the_test_sets_differ(user_client, dataset):
    v2 = make_version(dataset, 2, metrics=_metrics(1.0, "aaa", count=9))
    v3 = make_version(dataset, 3, metrics=_metrics(0.778, "bbb", count=9))

    page = user_client.get(reverse("classifier:model-version-compare") + f"?a={v2.pk}&b={v3.pk}")

    assert page.context["test_sets"]["same"] is False
    assert 'id="test-set-warning"' in page.text
    assert "images added, removed or relabelled in between" in page.text
