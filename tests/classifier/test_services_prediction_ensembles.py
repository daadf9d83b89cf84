"""Ensembles: versions averaged with their columns aligned by class name, shared classes only, and
the rules on which versions may be combined.

The models are real: tiny colour classifiers exported to TFLite (see conftest), served through
LiteRT exactly as in production.
"""

import pytest
from django.core.exceptions import ValidationError

from classifier.models import ModelVersion, Prediction
from classifier.services import prediction_ensembles
from classifier.services.prediction_ensembles import prediction_ensemble_create
from classifier.services.serving import version_predict
from tests.classifier.prediction_support import BLUE, GREY, RED, png
from tests.factories import DatasetFactory
from tests.models import OTHER_CLASSES, PRIMARY_CLASSES
from webapp.storage import stored_names

pytestmark = pytest.mark.django_db


# Ensembles


def test_an_ensemble_averages_the_same_classes_aligned_by_class_name(user, dataset, make_ready_version):
    first = make_ready_version(dataset, classes=PRIMARY_CLASSES)
    second = make_ready_version(dataset, number=2, classes=PRIMARY_CLASSES)
    # The same classes in another order: the columns follow the names, not the positions.
    ModelVersion.objects.filter(id=second.id).update(class_names=list(reversed(PRIMARY_CLASSES)))
    second.refresh_from_db()
    members = {
        version.id: version_predict(version=version, image_bytes=png(RED), top_k=3)["predictions"]
        for version in (first, second)
    }

    prediction = prediction_ensemble_create(
        owner=user, model_versions=[first, second], image_bytes=png(RED), filename="r.png", top_k=3
    )

    expected = dict.fromkeys(PRIMARY_CLASSES, 0.0)
    for rows in members.values():
        for row in rows:
            expected[row["label"]] += row["probability"] / 2
    ensemble = {row["label"]: row["probability"] for row in prediction.results}
    assert ensemble == pytest.approx(expected, abs=1e-6)
    assert sum(ensemble.values()) == pytest.approx(1.0, abs=1e-5)
    assert prediction.ensemble_version_ids == [first.id, second.id]
    assert prediction.model_version is None
    recorded = prediction.details["members"]
    assert [member["model_version"] for member in recorded] == [first.id, second.id]
    assert [member["predictions"] for member in recorded] == [members[first.id], members[second.id]]
    assert prediction.details["shared_classes_only"] is False


def test_versions_of_different_classes_are_refused_naming_each_and_nothing_is_stored(
    user, dataset, make_ready_version
):
    first = make_ready_version(dataset, classes=PRIMARY_CLASSES)
    second = make_ready_version(dataset, number=2, classes=OTHER_CLASSES)

    with pytest.raises(ValidationError) as caught:
        prediction_ensemble_create(owner=user, model_versions=[first, second], image_bytes=png(RED))

    message = caught.value.message_dict["model_versions"][0]
    assert '"Colours" v1 (3 classes), "Colours" v2 (3 classes)' in message
    assert "shared_classes_only" in message and "the 2 they all know" in message
    assert not Prediction.objects.exists()


def test_shared_classes_only_averages_each_versions_probabilities_over_the_shared_ones(
    user, dataset, make_ready_version
):
    first = make_ready_version(dataset, classes=PRIMARY_CLASSES)
    second = make_ready_version(dataset, number=2, classes=OTHER_CLASSES)
    predicted = [version_predict(version=version, image_bytes=png(RED))["predictions"] for version in (first, second)]
    members = [{row["label"]: row["probability"] for row in rows} for rows in predicted]

    prediction = prediction_ensemble_create(
        owner=user, model_versions=[first, second], image_bytes=png(RED), shared_classes_only=True
    )

    # red and blue are all they share; each version's two are rescaled to sum to 1, then averaged.
    expected = {
        name: sum(member[name] / (member["red"] + member["blue"]) for member in members) / 2 for name in ("red", "blue")
    }
    assert {row["label"]: row["probability"] for row in prediction.results} == pytest.approx(expected, abs=1e-6)
    assert prediction.top_k == 2
    assert prediction.details["shared_classes_only"] is True


def test_shared_classes_only_needs_two_shared_classes(user, dataset, make_ready_version):
    first = make_ready_version(dataset, classes=PRIMARY_CLASSES)
    faces = make_ready_version(DatasetFactory(owner=user, name="Faces"), classes=PRIMARY_CLASSES)
    ModelVersion.objects.filter(id=faces.id).update(class_names=["face", "red"])
    faces.refresh_from_db()

    with pytest.raises(ValidationError) as caught:
        prediction_ensemble_create(
            owner=user, model_versions=[first, faces], image_bytes=png(RED), shared_classes_only=True
        )

    message = caught.value.message_dict["model_versions"][0]
    assert "share 1 class (red)" in message and '"Faces" v1 (2 classes)' in message and "at least 2" in message
    assert not Prediction.objects.exists()


def test_an_ensemble_without_a_threshold_uses_its_versions_mean(user, dataset, make_ready_version):
    versions = [
        make_ready_version(dataset, number, calibration={"answer_threshold": threshold})
        for number, threshold in ((1, 0.25), (2, 0.45))
    ]

    prediction = prediction_ensemble_create(owner=user, model_versions=versions, image_bytes=png(RED))

    assert prediction.details["threshold"] == 0.35


def test_an_ensemble_is_unknown_only_when_every_member_says_so(user, dataset, make_ready_version):
    versions = [make_ready_version(dataset), make_ready_version(dataset, number=2)]

    grey = prediction_ensemble_create(owner=user, model_versions=versions, image_bytes=png(GREY), filename="g.png")
    blue = prediction_ensemble_create(owner=user, model_versions=versions, image_bytes=png(BLUE), filename="b.png")

    assert grey.is_unknown is True
    assert blue.is_unknown is False


@pytest.mark.parametrize("count", [1, 6])
def test_an_ensemble_needs_two_to_five_versions(user, dataset, make_ready_version, count):
    versions = [make_ready_version(dataset, number=number) for number in range(1, count + 1)]

    with pytest.raises(ValidationError) as caught:
        prediction_ensemble_create(owner=user, model_versions=versions, image_bytes=png(RED))
    assert "2 to 5" in caught.value.message_dict["model_versions"][0]


def test_an_ensemble_refuses_the_same_version_twice(user, version):
    with pytest.raises(ValidationError) as caught:
        prediction_ensemble_create(owner=user, model_versions=[version, version], image_bytes=png(RED))
    assert "only once" in caught.value.message_dict["model_versions"][0]


def test_an_ensemble_whose_member_fails_leaves_no_image_and_no_row(user, dataset, make_ready_version, monkeypatch):
    first = make_ready_version(dataset, classes=PRIMARY_CLASSES)
    second = make_ready_version(dataset, number=2, classes=PRIMARY_CLASSES)

    def broken(**kwargs):
        raise RuntimeError("the second interpreter failed")

    monkeypatch.setattr(prediction_ensembles, "version_scores", broken)

    with pytest.raises(RuntimeError, match="second interpreter"):
        prediction_ensemble_create(owner=user, model_versions=[first, second], image_bytes=png(RED), filename="r.png")

    assert not Prediction.objects.exists()
    assert list(stored_names("predictions")) == []
