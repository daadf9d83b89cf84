"""The predict endpoint's one-query lookup (classifier.selectors_serving) is the API's rule: DRF's token
authentication and ``model_versions_usable_by``, for every kind of user and version."""

import pytest
from rest_framework.authtoken.models import Token

from classifier.models import ModelVersion
from classifier.selectors import model_versions_usable_by
from classifier.selectors_serving import SERVING_FIELDS, model_version_usable_with_token
from tests.factories import DatasetFactory, UserFactory

pytestmark = pytest.mark.django_db


def _api_rule(key: str, version_id: int) -> int | None:
    """The user id DRF would answer with, or None (401 or 404)."""
    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return None
    return token.user.id if model_versions_usable_by(token.user).filter(pk=version_id).exists() else None


def test_the_lookup_agrees_with_the_apis_rule_for_every_case(make_ready_version):
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    staff, gone = UserFactory(username="carol", is_staff=True), UserFactory(username="dave", is_active=False)
    own = make_ready_version(DatasetFactory(owner=alice, name="Alice's"))
    private = make_ready_version(DatasetFactory(owner=bob, name="Bob's"))
    public = make_ready_version(DatasetFactory(owner=bob, name="Public", is_public=True))
    keys = [Token.objects.create(user=user).key for user in (alice, bob, staff, gone)] + ["no-such-token"]

    for key in keys:
        for version_id in (own.id, private.id, public.id, 987654):
            found = model_version_usable_with_token(token_key=key, version_id=version_id)
            assert (found.user_id if found else None) == _api_rule(key, version_id), (key, version_id)


def test_the_version_is_loaded_as_the_orm_loads_it(user, make_ready_version):
    version = make_ready_version(
        DatasetFactory(owner=user, name="Colours"),
        calibration={"temperature": 1.3, "answer_threshold": 0.4},
        hyperparameters={"input": {"resize": "center_crop"}},
        quantization={"accuracy": 0.9},
    )
    key = Token.objects.create(user=user).key

    found = model_version_usable_with_token(token_key=key, version_id=version.id)

    fresh = ModelVersion.objects.get(id=version.id)
    for name in SERVING_FIELDS:
        assert getattr(found.version, name) == getattr(fresh, name), name
    assert found.version.class_names == fresh.class_names
    assert (found.version.dataset.name, found.version.dataset.owner_id) == ("Colours", user.id)
    assert found.version.dataset.is_public is False
    assert found.version.tflite_file.name == fresh.tflite_file.name


def test_class_names_are_read_again_when_the_versions_model_changes(user, make_ready_version):
    version = make_ready_version(DatasetFactory(owner=user, name="Colours"))
    key = Token.objects.create(user=user).key
    assert model_version_usable_with_token(token_key=key, version_id=version.id).version.class_names == [
        "red", "green", "blue"
    ]

    # Another model file (a new training stores one) with other classes.
    ModelVersion.objects.filter(id=version.id).update(
        class_names=["cyan", "magenta"], tflite_file=f"{version.tflite_file.name}.v2"
    )
    found = model_version_usable_with_token(token_key=key, version_id=version.id)

    assert found.version.class_names == ["cyan", "magenta"]
