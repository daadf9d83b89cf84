"""Ids past what the database can hold are a 400 naming the field, not an overflow in the query (a 500)."""

import pytest

from tests.factories import DatasetFactory

pytestmark = pytest.mark.django_db

HUGE = 10**30


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("/api/v1/model-versions/score/", {"model_versions": [HUGE]}, "model_versions"),
        ("/api/v1/model-versions/score/", {"model_versions": [1], "test_set": f"manifest:{HUGE}"}, "test_set"),
        ("/api/v1/datasets/{dataset}/near-duplicates/fix/", {"image": HUGE}, "image"),
        (
            "/api/v1/ensembles/predict/",
            {"model_versions": [HUGE, HUGE], "url": "http://example.com/a.jpg"},
            "model_versions",
        ),
    ],
)
def test_a_huge_id_is_a_400_naming_the_field(user_api, user, route, body, field):
    dataset = DatasetFactory(owner=user)

    response = user_api.post(route.format(dataset=dataset.id), body, format="json")

    assert response.status_code == 400
    assert field in response.json()
