"""Feedback on a prediction, and adding a wrong answer's image to the dataset as a training image.

The models are real: tiny colour classifiers exported to TFLite (see conftest), served through
LiteRT exactly as in production.
"""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage

from classifier.models import DatasetImage, LabelClass, Prediction
from classifier.services.prediction_ensembles import prediction_ensemble_create
from classifier.services.prediction_feedback import prediction_add_to_dataset, prediction_feedback
from classifier.services.predictions import PredictionNotReady, prediction_create
from tests.classifier.prediction_support import BLUE, RED, png
from tests.factories import DatasetFactory, LabelClassFactory, UserFactory

pytestmark = pytest.mark.django_db


# Feedback and adding to the dataset


def _prediction(user, version, color=RED) -> Prediction:
    return prediction_create(owner=user, model_version=version, image_bytes=png(color), filename="photo.png")


def test_feedback_is_recorded(user, version):
    prediction = _prediction(user, version)

    prediction_feedback(prediction=prediction, is_correct=False, correct_label="  green ")
    prediction.refresh_from_db()
    assert (prediction.is_correct, prediction.correct_label) == (False, "green")

    prediction_feedback(prediction=prediction, is_correct=True, correct_label="ignored")
    prediction.refresh_from_db()
    assert (prediction.is_correct, prediction.correct_label) == (True, "")


def test_feedback_names_a_class_as_it_is_spelled(user, dataset, version):
    LabelClassFactory(dataset=dataset, name="Violet")
    prediction = _prediction(user, version)

    prediction_feedback(prediction=prediction, is_correct=False, correct_label="GREEN")
    assert Prediction.objects.get(id=prediction.id).correct_label == "green"
    # A class of the dataset that the version was not trained on is a class too.
    prediction_feedback(prediction=prediction, is_correct=False, correct_label="violet")
    assert Prediction.objects.get(id=prediction.id).correct_label == "Violet"


def test_feedback_refuses_a_typo_and_names_the_classes(user, dataset, version):
    prediction = _prediction(user, version)

    with pytest.raises(ValidationError) as caught:
        prediction_feedback(prediction=prediction, is_correct=False, correct_label="gren")

    message = caught.value.message_dict["correct_label"][0]
    assert '"gren" is not a class of "Colours" v1' in message
    assert 'Did you mean "green"?' in message
    assert "Its classes: blue, green, red." in message
    assert "new_class" in message
    prediction.refresh_from_db()
    assert (prediction.is_correct, prediction.correct_label) == (None, "")
    assert not LabelClass.objects.exists()


def test_feedback_names_a_new_class_only_when_asked(user, version):
    prediction = _prediction(user, version)

    prediction_feedback(prediction=prediction, is_correct=False, correct_label="crimson", new_class=True)

    prediction.refresh_from_db()
    assert (prediction.is_correct, prediction.correct_label) == (False, "crimson")
    # Feedback only records the name: the class is made when the image is added, if ever.
    assert not LabelClass.objects.exists()


def test_feedback_on_an_ensemble_names_a_class_of_its_versions(user, dataset, make_ready_version):
    versions = [make_ready_version(dataset), make_ready_version(dataset, number=2)]
    prediction = prediction_ensemble_create(owner=user, model_versions=versions, image_bytes=png(RED))

    prediction_feedback(prediction=prediction, is_correct=False, correct_label="blue")
    assert Prediction.objects.get(id=prediction.id).correct_label == "blue"
    with pytest.raises(ValidationError, match='"bleu" is not a class of these versions'):
        prediction_feedback(prediction=prediction, is_correct=False, correct_label="bleu")


def test_feedback_needs_an_answer(user, version):
    queued = Prediction.objects.create(owner=user, model_version=version)

    with pytest.raises(PredictionNotReady):
        prediction_feedback(prediction=queued, is_correct=True)


def test_a_wrong_answer_becomes_a_training_image(user, dataset, version):
    crimson = LabelClassFactory(dataset=dataset, name="crimson")
    prediction = _prediction(user, version)

    image = prediction_add_to_dataset(prediction=prediction, label_name="Crimson")

    assert (image.dataset, image.label, image.origin) == (dataset, crimson, DatasetImage.Origin.UPLOAD)
    assert image.original_name == "photo.png"
    assert default_storage.open(image.file.name).read() == png(RED)
    assert LabelClass.objects.filter(dataset=dataset).count() == 1
    prediction.refresh_from_db()
    assert prediction.added_image == image
    # The dataset already holds this picture now.
    with pytest.raises(ValidationError, match="same picture"):
        prediction_add_to_dataset(prediction=prediction, label_name="crimson")


def test_adding_under_a_name_the_dataset_lacks_creates_no_class_unless_asked(user, dataset, version):
    LabelClassFactory(dataset=dataset, name="green")
    prediction = _prediction(user, version)

    # "red" is a class the version knows but the dataset no longer has: re-creating it is a new class too.
    for name in ("gren", "red"):
        with pytest.raises(ValidationError) as caught:
            prediction_add_to_dataset(prediction=prediction, label_name=name)
        message = caught.value.message_dict["label"][0]
        assert f'"{name}" is not a class of "Colours".' in message
        assert "Its classes: green." in message
    assert list(LabelClass.objects.values_list("name", flat=True)) == ["green"]
    assert not DatasetImage.objects.exists()

    image = prediction_add_to_dataset(prediction=prediction, label_name="crimson", new_class=True)

    assert image.label.name == "crimson"
    assert sorted(LabelClass.objects.values_list("name", flat=True)) == ["crimson", "green"]


def test_a_refusal_names_at_most_thirty_classes(user, dataset, version):
    for number in range(40):
        LabelClassFactory(dataset=dataset, name=f"class {number:02d}")

    with pytest.raises(ValidationError) as caught:
        prediction_add_to_dataset(prediction=_prediction(user, version), label_name="purple")

    classes_named = caught.value.message_dict["label"][0].split("Its classes: ")[1]
    assert classes_named.startswith("class 00, class 01,")
    assert "class 29 and 10 more." in classes_named
    assert "class 30" not in classes_named


def test_a_public_dataset_takes_images_from_staff_only(other_user, staff_user, make_ready_version):
    public = DatasetFactory(owner=UserFactory(username="sightline"), name="ImageNet-1k", is_public=True)
    version = make_ready_version(public)

    with pytest.raises(PermissionDenied, match="only staff"):
        prediction_add_to_dataset(prediction=_prediction(other_user, version), label_name="red", new_class=True)
    assert not DatasetImage.objects.filter(dataset=public).exists()

    image = prediction_add_to_dataset(
        prediction=_prediction(staff_user, version, BLUE), label_name="blue", new_class=True
    )
    assert image.dataset == public


def test_an_ensemble_prediction_has_no_dataset_to_add_to(user, dataset, make_ready_version):
    versions = [make_ready_version(dataset), make_ready_version(dataset, number=2)]
    prediction = prediction_ensemble_create(owner=user, model_versions=versions, image_bytes=png(RED))

    with pytest.raises(ValidationError, match="no single model version"):
        prediction_add_to_dataset(prediction=prediction, label_name="red")
