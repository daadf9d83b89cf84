"""A prediction's page: feedback on its answer and 'add to dataset'.

Predictions run for real: the colour models of tests/models.py, exported to TFLite once
per session and stored as each version's model file, answer through LiteRT as they do in production.
"""

import pytest
from django.urls import reverse

from classifier.models import DatasetImage, Prediction
from tests.classifier.prediction_pages_support import (
    colours_dataset,
    detail_url,
    png_upload,
    predict,
    public_imagenet_versions,
    stored_prediction,
)
from tests.factories import LabelClassFactory
from tests.models import PRIMARY_CLASSES

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(user):
    return colours_dataset(user)


@pytest.fixture
def version(dataset, make_ready_version):
    # No unknown-image detector: orange would be far from its pure primaries.
    return make_ready_version(dataset, detector=False, is_active=True)


@pytest.fixture
def imagenet(make_ready_version):
    return public_imagenet_versions(make_ready_version)


# Feedback


def _feedback(client, prediction: Prediction, **data):
    return client.post(reverse("classifier:prediction-feedback", args=[prediction.pk]), data)


def test_feedback_marks_an_answer_right(user_client, user, version):
    prediction = stored_prediction(user, version)

    response = _feedback(user_client, prediction, verdict="right")

    assert response.url == detail_url(prediction)
    prediction.refresh_from_db()
    assert prediction.is_correct is True
    page = user_client.get(response.url)
    assert "Thanks: marked as right." in page.text
    assert 'id="add-to-dataset"' not in page.text


def test_a_wrong_answer_needs_the_right_class(user_client, user, version):
    prediction = stored_prediction(user, version)

    page = _feedback(user_client, prediction, verdict="wrong", correct_label="", new_class_name="  ")

    assert page.status_code == 200
    assert page.context["feedback_form"].errors["correct_label"] == ["Say what it is instead."]
    assert "Say what it is instead." in page.text
    prediction.refresh_from_db()
    assert prediction.is_correct is None


def _add_to_dataset(client, prediction: Prediction, **data):
    return client.post(reverse("classifier:prediction-add-to-dataset", args=[prediction.pk]), data)


def test_a_wrong_answer_can_join_the_dataset_in_one_click(user_client, user, dataset, version):
    prediction = Prediction.objects.get(pk=predict(user_client, version, image=png_upload()).url.split("/")[-2])

    response = _feedback(user_client, prediction, verdict="wrong", correct_label="green")
    page = user_client.get(response.url)

    assert 'marked as wrong; it is "green"' in page.text.replace("&quot;", '"')
    assert "Add to “Colours” as green" in page.text
    assert 'id="add-new-class-note"' not in page.text

    added = _add_to_dataset(user_client, prediction)

    image = DatasetImage.objects.get(dataset=dataset)
    assert image.label.name == "green"
    assert sorted(dataset.classes.values_list("name", flat=True)) == sorted(PRIMARY_CLASSES)
    prediction.refresh_from_db()
    assert prediction.added_image == image
    page = user_client.get(added.url)
    assert 'Added to "Colours" as "green".' in page.text.replace("&quot;", '"')
    assert 'id="added-to-dataset"' in page.text
    assert 'id="add-to-dataset"' not in page.text


def test_feedback_picks_one_of_the_known_classes(user_client, user, dataset, version):
    LabelClassFactory(dataset=dataset, name="violet")
    prediction = stored_prediction(user, version)

    page = user_client.get(detail_url(prediction))
    choices = [value for value, _ in page.context["feedback_form"].fields["correct_label"].choices]
    assert choices == ["", "blue", "green", "red", "violet"]
    assert '<select name="correct_label"' in page.text

    # A typo cannot be sent from the page; sent anyway, it is refused and nothing is stored.
    page = _feedback(user_client, prediction, verdict="wrong", correct_label="gren")

    assert page.status_code == 200
    assert "gren is not one of the available choices" in " ".join(page.context["feedback_form"].errors["correct_label"])
    prediction.refresh_from_db()
    assert (prediction.is_correct, prediction.correct_label) == (None, "")
    assert 'id="add-to-dataset"' not in page.text


def test_a_class_and_a_new_name_together_are_refused(user_client, user, version):
    prediction = stored_prediction(user, version)

    page = _feedback(user_client, prediction, verdict="wrong", correct_label="green", new_class_name="lime")

    assert page.context["feedback_form"].errors["new_class_name"] == ["Choose a class or name a new one, not both."]
    prediction.refresh_from_db()
    assert prediction.is_correct is None


def test_a_new_class_is_made_only_by_the_button_that_says_so(user_client, user, dataset, version):
    prediction = Prediction.objects.get(pk=predict(user_client, version, image=png_upload()).url.split("/")[-2])

    page = user_client.get(_feedback(user_client, prediction, verdict="wrong", new_class_name=" orange ").url)

    prediction.refresh_from_db()
    assert (prediction.is_correct, prediction.correct_label) == (False, "orange")
    assert "Add to “Colours” as a new class “orange”" in page.text
    assert 'id="add-new-class-note"' in page.text
    assert page.context["feedback_form"]["new_class_name"].value() == "orange"

    # Without the button's confirmation the service refuses, naming the dataset's classes.
    refused = _add_to_dataset(user_client, prediction)
    assert "Its classes: blue, green, red." in user_client.get(refused.url).text
    assert not dataset.classes.filter(name="orange").exists()
    assert not DatasetImage.objects.exists()

    _add_to_dataset(user_client, prediction, new_class="on")

    assert DatasetImage.objects.get(dataset=dataset).label.name == "orange"
    assert dataset.classes.count() == len(PRIMARY_CLASSES) + 1


def test_a_public_dataset_takes_images_from_staff_only(client, user, staff_user, imagenet):
    client.force_login(user)
    prediction = Prediction.objects.get(pk=predict(client, imagenet[0], image=png_upload()).url.split("/")[-2])
    _feedback(client, prediction, verdict="wrong", new_class_name="cardinal")

    page = client.get(detail_url(prediction))
    assert 'id="add-refused"' in page.text and 'id="add-to-dataset"' not in page.text
    refused = client.post(
        reverse("classifier:prediction-add-to-dataset", args=[prediction.pk]), {"new_class": "on"}, follow=True
    )
    assert refused.status_code == 200
    assert "only staff can add images" in refused.text
    assert not DatasetImage.objects.exists()

    client.force_login(staff_user)
    staff_prediction = Prediction.objects.get(pk=predict(client, imagenet[0], image=png_upload()).url.split("/")[-2])
    _feedback(client, staff_prediction, verdict="wrong", correct_label="green")
    # ImageNet-1k's dataset holds no classes of its own: even a name its versions know starts one.
    assert "as a new class “green”" in client.get(detail_url(staff_prediction)).text
    _add_to_dataset(client, staff_prediction, new_class="on")
    assert DatasetImage.objects.get().dataset == imagenet[0].dataset
