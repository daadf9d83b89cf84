"""Prediction pages: the Predict entry page, a version's and a dataset's quick test (upload or URL,
the threshold's answer rule), the ensemble page, the history, and a prediction's page with feedback
and "add to dataset".

Predictions run for real: the colour models of tests/models.py, exported to TFLite once
per session and stored as each version's model file, answer through LiteRT as they do in production.
"""

import re

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from classifier.models import DatasetImage, ModelVersion, Prediction
from tests.classifier.conftest import Route
from tests.factories import DatasetFactory, LabelClassFactory, UserFactory, image_bytes
from tests.models import OTHER_CLASSES, PRIMARY_CLASSES

pytestmark = pytest.mark.django_db

Status = ModelVersion.Status
# Orange, between red and green: the colour models (tests/models.py) answer red 78%,
# green 22%, blue under 1%, so a threshold of 0.5 gives one answer and 0.8 two.
ORANGE = (255, 200, 0)
# Equal parts of every primary: far from all the colours the unknown-image detector was fitted on.
GREY = (128, 128, 128)


@pytest.fixture
def dataset(user):
    dataset = DatasetFactory(owner=user, name="Colours")
    for name in PRIMARY_CLASSES:
        LabelClassFactory(dataset=dataset, name=name)
    return dataset


@pytest.fixture
def version(dataset, make_ready_version):
    # No unknown-image detector: orange would be far from its pure primaries.
    return make_ready_version(dataset, detector=False, is_active=True)


@pytest.fixture
def imagenet(make_ready_version):
    """The public ready-made dataset, its three versions usable by everyone."""
    system = UserFactory(username="sightline", is_active=False)
    public = DatasetFactory(owner=system, name="ImageNet-1k", is_public=True)
    return [make_ready_version(public, number, detector=False, is_active=number == 1) for number in (1, 2, 3)]


def _png(color=ORANGE, name="photo.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, image_bytes(color=color, fmt="PNG"), content_type="image/png")


def _quick_test(version: ModelVersion) -> str:
    return reverse("classifier:model-version-predict", args=[version.pk])


def _detail(prediction: Prediction) -> str:
    return reverse("classifier:prediction-detail", args=[prediction.pk])


def _predict(client, version: ModelVersion, **data):
    return client.post(_quick_test(version), {"threshold": "0.5", **data})


def _answer(page) -> str:
    """The answer box's sentence, tags and spacing removed."""
    box = re.search(r'<div class="answer [^"]*" id="answer">(.*?)</p>', page.text, re.S).group(1)
    return " ".join(re.sub(r"<[^>]+>", "", box).split())


def _stored_prediction(owner, version, **fields) -> Prediction:
    values = {
        "status": Prediction.Status.SUCCEEDED,
        "results": [{"label": "red", "probability": 0.7}, {"label": "green", "probability": 0.2}],
        "details": {"threshold": 0.5},
        **fields,
    }
    return Prediction.objects.create(owner=owner, model_version=version, **values)


# Access


def test_prediction_pages_send_strangers_to_sign_in(client, dataset, version):
    prediction = _stored_prediction(dataset.owner, version)
    for url in (
        reverse("classifier:predict"),
        _quick_test(version),
        reverse("classifier:dataset-predict", args=[dataset.pk]),
        reverse("classifier:ensemble-predict"),
        reverse("classifier:prediction-list"),
        _detail(prediction),
    ):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith(f"{reverse('login')}?next="), url


def test_another_users_versions_and_predictions_are_not_found(client, other_user, dataset, version):
    prediction = _stored_prediction(dataset.owner, version, is_correct=False, correct_label="orange")
    client.force_login(other_user)

    assert client.get(_quick_test(version)).status_code == 404
    assert _predict(client, version, image=_png()).status_code == 404
    assert client.get(reverse("classifier:dataset-predict", args=[dataset.pk])).status_code == 404
    assert client.get(_detail(prediction)).status_code == 404
    feedback = reverse("classifier:prediction-feedback", args=[prediction.pk])
    assert client.post(feedback, {"verdict": "right"}).status_code == 404
    assert client.post(reverse("classifier:prediction-add-to-dataset", args=[prediction.pk])).status_code == 404
    assert Prediction.objects.count() == 1
    assert not DatasetImage.objects.exists()


def test_prediction_writes_are_post_only(user_client, version):
    prediction = _stored_prediction(version.dataset.owner, version)
    for url in (
        reverse("classifier:prediction-feedback", args=[prediction.pk]),
        reverse("classifier:prediction-add-to-dataset", args=[prediction.pk]),
    ):
        assert user_client.get(url).status_code == 405, url


# Choosing a version


def test_predict_page_lists_own_then_public_ready_versions_in_version_order(
    user_client, other_user, dataset, version, imagenet, make_ready_version
):
    older = make_ready_version(dataset, 2)
    ModelVersion.objects.create(dataset=dataset, number=3, backbone="tiny", image_size=16, status=Status.TRAINING)
    make_ready_version(DatasetFactory(owner=other_user, name="Bob's"), is_active=True)

    page = user_client.get(reverse("classifier:predict"))

    assert page.status_code == 200
    listed = [row["version"] for row in page.context["rows"]]
    # The user's own first, then the public ones; each dataset's in version order (v1, v2, v3).
    assert listed == [version, older, *imagenet]
    assert _quick_test(version) in page.text
    assert "Bob's" not in page.text
    assert 'aria-current="page">Predict</a>' in page.text


def test_version_and_dataset_pages_link_to_their_quick_test(user_client, dataset, version):
    version_page = user_client.get(reverse("classifier:model-version-detail", args=[version.pk]))
    dataset_page = user_client.get(reverse("classifier:dataset-detail", args=[dataset.pk]))

    assert f'href="{_quick_test(version)}" id="version-quick-test"' in version_page.text
    assert reverse("classifier:dataset-predict", args=[dataset.pk]) in dataset_page.text


def test_quick_test_page_shows_the_form_and_the_classes(user_client, version):
    page = user_client.get(_quick_test(version))

    assert page.status_code == 200
    assert 'id="predict-form"' in page.text and 'enctype="multipart/form-data"' in page.text
    assert page.context["form"]["threshold"].value() == 0.5
    assert '<details class="known-classes" open>' in page.text
    assert "<li>green</li>" in page.text


def test_a_thousand_classes_start_collapsed(user_client, dataset, make_ready_version):
    many = make_ready_version(dataset, 2, class_names=[f"class {index}" for index in range(1000)])

    page = user_client.get(_quick_test(many))

    assert '<details class="known-classes">' in page.text
    assert "<li>class 999</li>" in page.text


def test_dataset_quick_test_opens_its_active_version(user_client, dataset, version, make_ready_version):
    make_ready_version(dataset, 2)

    response = user_client.get(reverse("classifier:dataset-predict", args=[dataset.pk]))

    assert response.status_code == 302
    assert response.url == _quick_test(version)


def test_dataset_without_an_active_version_says_so(user_client, dataset):
    page = user_client.get(reverse("classifier:dataset-predict", args=[dataset.pk]))

    assert page.status_code == 200
    assert "No active version yet" in page.text


def test_public_models_are_usable_by_everyone(client, other_user, imagenet):
    client.force_login(other_user)

    response = client.get(reverse("classifier:dataset-predict", args=[imagenet[0].dataset_id]))

    assert response.url == _quick_test(imagenet[0])
    assert client.get(response.url).status_code == 200


def test_a_version_that_is_not_ready_cannot_be_tested(user_client, dataset):
    queued = ModelVersion.objects.create(dataset=dataset, number=1, backbone="tiny", image_size=16)

    page = user_client.get(_quick_test(queued))
    posted = _predict(user_client, queued, image=_png())

    assert 'id="predict-unavailable"' in page.text and 'id="predict-form"' not in page.text
    assert posted.status_code == 200
    assert "not ready" in " ".join(posted.context["form"].non_field_errors())
    assert not Prediction.objects.exists()


# Predicting


def test_upload_opens_the_saved_prediction_with_its_answer(user_client, user, version):
    response = _predict(user_client, version, image=_png())

    prediction = Prediction.objects.get()
    assert response.status_code == 302
    assert response.url == _detail(prediction)
    assert (prediction.owner, prediction.model_version, prediction.status) == (user, version, "succeeded")
    assert [row["label"] for row in prediction.results] == ["red", "green", "blue"]
    assert prediction.results[0]["probability"] == pytest.approx(0.78, abs=0.01)
    assert default_storage.exists(prediction.image.name)

    page = user_client.get(response.url)
    assert page.status_code == 200
    assert _answer(page) == "It is red"
    assert [bar["label"] for bar in page.context["bars"]] == ["red", "green", "blue"]
    assert 'class="prob-fill" style="width: 78.' in page.text
    assert reverse("classifier_api:prediction-image", args=[prediction.pk]) in page.text
    assert "<li>blue</li>" in page.text  # the classes it knows


def test_the_threshold_decides_between_one_answer_and_two(user_client, version):
    response = _predict(user_client, version, image=_png(), threshold="0.8")

    page = user_client.get(response.url)
    assert _answer(page) == "It could be red or green"
    assert "No class reaches the 80% threshold" in page.text

    # The result page recomputes the answer from the stored probabilities for another threshold.
    lower = user_client.get(f"{response.url}?threshold=0.6")
    assert _answer(lower) == "It is red"
    assert lower.context["threshold_form"]["threshold"].value() == "0.6"

    # A threshold that is not a probability is refused on its form; the stored one still answers.
    wrong = user_client.get(f"{response.url}?threshold=2")
    assert wrong.context["threshold_form"].errors["threshold"]
    assert _answer(wrong) == "It could be red or green"


def test_an_unknown_image_is_answered_as_such(user_client, dataset, make_ready_version):
    watchful = make_ready_version(dataset, 2)

    page = user_client.get(_predict(user_client, watchful, image=_png(GREY)).url)

    assert page.context["prediction"].is_unknown
    assert _answer(page) == "Unknown — not one of my classes"


def test_a_refused_url_shows_the_reason_on_the_form(user_client, version):
    page = _predict(user_client, version, url="http://127.0.0.1/cat.jpg")

    assert page.status_code == 200
    error = " ".join(page.context["form"].errors["url"])
    assert "loopback" in error
    assert error in page.text.replace("&#x27;", "'")
    assert not Prediction.objects.exists()


def test_an_image_url_is_fetched_and_kept_with_the_prediction(user_client, version, image_server):
    image_server.routes["/pictures/cardinal.png"] = Route(
        body=image_bytes(color=ORANGE, fmt="PNG"), headers={"Content-Type": "image/png"}
    )
    url = image_server.url("/pictures/cardinal.png")

    response = _predict(user_client, version, url=url)

    prediction = Prediction.objects.get()
    assert response.url == _detail(prediction)
    assert prediction.source_url == url
    assert prediction.details["filename"] == "cardinal.png"
    assert f'href="{url}"' in user_client.get(response.url).text


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({}, None, "Upload an image or paste an image URL."),
        ({"url": "https://example.com/a.jpg", "image": "yes"}, None, "Upload an image or paste a URL, not both."),
        ({"image": "not an image"}, "image", "is not an image Sightline can read"),
        ({"image": "yes", "threshold": "1.5"}, "threshold", "less than or equal to 1"),
    ],
)
def test_bad_input_is_shown_on_the_form(user_client, version, data, field, message):
    if "image" in data:
        content = b"plain text" if data["image"] == "not an image" else image_bytes(fmt="PNG")
        data = {**data, "image": SimpleUploadedFile("photo.png", content)}

    page = user_client.post(_quick_test(version), {"threshold": "0.5", **data})

    assert page.status_code == 200
    errors = page.context["form"].errors.get(field or "__all__", [])
    assert any(message in error for error in errors), errors
    assert not Prediction.objects.exists()


# Ensembles


def test_ensemble_page_starts_with_the_public_models(user_client, version, imagenet):
    page = user_client.get(reverse("classifier:ensemble-predict"))

    assert page.status_code == 200
    assert page.context["form"]["model_versions"].value() == [v.pk for v in imagenet]
    assert 'id="ensemble-form"' in page.text


def test_ensemble_shows_each_versions_top_three_side_by_side(user, user_client, version, make_ready_version):
    warm = make_ready_version(DatasetFactory(owner=user, name="Warm"), classes=OTHER_CLASSES, detector=False)

    response = user_client.post(
        reverse("classifier:ensemble-predict"),
        {"model_versions": [version.pk, warm.pk], "shared_classes_only": "on", "image": _png(), "threshold": "0.5"},
    )

    prediction = Prediction.objects.get()
    assert response.url == _detail(prediction)
    assert prediction.ensemble_version_ids == [version.pk, warm.pk]
    page = user_client.get(response.url)
    members = page.context["members"]
    assert [member["version"] for member in members] == [version, warm]
    assert [[bar["label"] for bar in member["bars"]] for member in members] == [
        ["red", "green", "blue"],
        ["yellow", "red", "blue"],
    ]
    assert 'id="ensemble-members"' in page.text
    assert "Colours v1" in page.text and "Warm v1" in page.text
    # Each answers in its own classes; the ensemble only over the two they share, where both say red.
    assert [bar["label"] for bar in page.context["bars"]] == ["red", "blue"]
    assert _answer(page) == "It is red"


def test_an_ensemble_of_versions_with_different_classes_is_refused_on_the_form(
    user, user_client, version, make_ready_version
):
    faces = make_ready_version(DatasetFactory(owner=user, name="Faces"), detector=False)
    ModelVersion.objects.filter(pk=faces.pk).update(class_names=["face", "no face"])

    page = user_client.post(
        reverse("classifier:ensemble-predict"), {"model_versions": [version.pk, faces.pk], "image": _png()}
    )
    shared_only = user_client.post(
        reverse("classifier:ensemble-predict"),
        {"model_versions": [version.pk, faces.pk], "shared_classes_only": "on", "image": _png()},
    )

    assert page.status_code == shared_only.status_code == 200
    refusal = " ".join(page.context["form"].errors["model_versions"])
    assert '"Colours" v1 (3 classes), "Faces" v1 (2 classes)' in refusal
    assert "share 0 classes" in " ".join(shared_only.context["form"].errors["model_versions"])
    assert "Colours" in page.text and "(2 classes)" in page.text
    assert not Prediction.objects.exists()


def test_the_ensemble_threshold_left_blank_is_its_versions_own(user, user_client, dataset, make_ready_version):
    versions = [
        make_ready_version(dataset, number, detector=False, calibration={"answer_threshold": threshold})
        for number, threshold in ((1, 0.25), (2, 0.45))
    ]

    user_client.post(
        reverse("classifier:ensemble-predict"), {"model_versions": [v.pk for v in versions], "image": _png()}
    )

    assert Prediction.objects.get().details["threshold"] == 0.35


def test_a_result_of_a_version_not_recalibrated_says_so(user, user_client, version):
    prediction = _stored_prediction(user, version)
    calibrated = user_client.get(_detail(prediction)).text
    ModelVersion.objects.filter(pk=version.pk).update(calibration={"temperature": 1.0, "recalibrated": False})
    published = user_client.get(_detail(prediction)).text

    assert "calibrated probabilities" in calibrated and "not recalibrated" not in calibrated
    assert "published probabilities, not recalibrated" in published


def test_an_ensemble_needs_at_least_two_versions(user_client, version, imagenet):
    page = user_client.post(
        reverse("classifier:ensemble-predict"), {"model_versions": [version.pk], "image": _png(), "threshold": "0.5"}
    )

    assert page.status_code == 200
    assert "2 to 5" in " ".join(page.context["form"].errors["model_versions"])
    assert not Prediction.objects.exists()


# Feedback


def _feedback(client, prediction: Prediction, **data):
    return client.post(reverse("classifier:prediction-feedback", args=[prediction.pk]), data)


def test_feedback_marks_an_answer_right(user_client, user, version):
    prediction = _stored_prediction(user, version)

    response = _feedback(user_client, prediction, verdict="right")

    assert response.url == _detail(prediction)
    prediction.refresh_from_db()
    assert prediction.is_correct is True
    page = user_client.get(response.url)
    assert "Thanks: marked as right." in page.text
    assert 'id="add-to-dataset"' not in page.text


def test_a_wrong_answer_needs_the_right_class(user_client, user, version):
    prediction = _stored_prediction(user, version)

    page = _feedback(user_client, prediction, verdict="wrong", correct_label="", new_class_name="  ")

    assert page.status_code == 200
    assert page.context["feedback_form"].errors["correct_label"] == ["Say what it is instead."]
    assert "Say what it is instead." in page.text
    prediction.refresh_from_db()
    assert prediction.is_correct is None


def _add_to_dataset(client, prediction: Prediction, **data):
    return client.post(reverse("classifier:prediction-add-to-dataset", args=[prediction.pk]), data)


def test_a_wrong_answer_can_join_the_dataset_in_one_click(user_client, user, dataset, version):
    prediction = Prediction.objects.get(pk=_predict(user_client, version, image=_png()).url.split("/")[-2])

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
    prediction = _stored_prediction(user, version)

    page = user_client.get(_detail(prediction))
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
    prediction = _stored_prediction(user, version)

    page = _feedback(user_client, prediction, verdict="wrong", correct_label="green", new_class_name="lime")

    assert page.context["feedback_form"].errors["new_class_name"] == ["Choose a class or name a new one, not both."]
    prediction.refresh_from_db()
    assert prediction.is_correct is None


def test_a_new_class_is_made_only_by_the_button_that_says_so(user_client, user, dataset, version):
    prediction = Prediction.objects.get(pk=_predict(user_client, version, image=_png()).url.split("/")[-2])

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
    prediction = Prediction.objects.get(pk=_predict(client, imagenet[0], image=_png()).url.split("/")[-2])
    _feedback(client, prediction, verdict="wrong", new_class_name="cardinal")

    page = client.get(_detail(prediction))
    assert 'id="add-refused"' in page.text and 'id="add-to-dataset"' not in page.text
    refused = client.post(
        reverse("classifier:prediction-add-to-dataset", args=[prediction.pk]), {"new_class": "on"}, follow=True
    )
    assert refused.status_code == 200
    assert "only staff can add images" in refused.text
    assert not DatasetImage.objects.exists()

    client.force_login(staff_user)
    staff_prediction = Prediction.objects.get(pk=_predict(client, imagenet[0], image=_png()).url.split("/")[-2])
    _feedback(client, staff_prediction, verdict="wrong", correct_label="green")
    # ImageNet-1k's dataset holds no classes of its own: even a name its versions know starts one.
    assert "as a new class “green”" in client.get(_detail(staff_prediction)).text
    _add_to_dataset(client, staff_prediction, new_class="on")
    assert DatasetImage.objects.get().dataset == imagenet[0].dataset


# History


def test_history_lists_only_the_users_own_predictions(user_client, user, other_user, version, imagenet):
    mine = [_stored_prediction(user, version) for _ in range(3)]
    right = _stored_prediction(user, imagenet[0], is_correct=True)
    _stored_prediction(other_user, imagenet[0], results=[{"label": "theirs", "probability": 0.9}])

    page = user_client.get(reverse("classifier:prediction-list"))

    assert page.status_code == 200
    assert list(page.context["page_obj"]) == [right, *reversed(mine)]
    assert "theirs" not in page.text
    assert _detail(right) in page.text
    assert 'aria-current="page">History</a>' in page.text


def test_history_is_paginated(user_client, user, version):
    for _ in range(30):
        _stored_prediction(user, version)

    first = user_client.get(reverse("classifier:prediction-list"))
    second = user_client.get(reverse("classifier:prediction-list") + "?page=2")

    assert len(first.context["page_obj"]) == 25 and len(second.context["page_obj"]) == 5
    assert "Page 1 of 2" in first.text
