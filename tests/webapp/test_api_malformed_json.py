"""JSON bodies that Python's parser cannot take: a 400 saying so, never a 500."""

import pytest

pytestmark = pytest.mark.django_db

# Nested past the interpreter's recursion limit: json.loads raises RecursionError, not ValueError.
DEEP_ARRAY = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 100_000 + "1" + "}" * 100_000


@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT])
@pytest.mark.parametrize(
    "path", ["/api/v1/datasets/", "/api/v1/auth/token/", "/api/v1/ensembles/predict/", "/api/v1/predictions/"]
)
def test_json_nested_too_deeply_is_400(user_api, path, body):
    response = user_api.post(path, body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["detail"] == "JSON parse error - the document is nested too deeply."
