"""Predictions API: predict now by upload or URL (with a version, a dataset's active version or an
ensemble), queue one, the history and a prediction's image, feedback, add to dataset, batch
predictions and their CSV; every bad input a 4xx naming the problem, and who may use which version.

The models are tiny real TFLite colour classifiers (see conftest); tasks run eagerly on commit.
"""

import csv
import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from classifier.models import DatasetImage, LabelClass, ModelVersion, Prediction
from tests.classifier.conftest import Route
from tests.factories import DatasetFactory, LabelClassFactory, UserFactory, image_bytes
from tests.models import OTHER_CLASSES

pytestmark = pytest.mark.django_db

RED, BLUE, GREY = (255, 0, 0), (0, 0, 255), (128, 128, 128)


@pytest.fixture
def dataset(user):
    return DatasetFactory(owner=user, name="Colours")


@pytest.fixture
def version(dataset, make_ready_version):
    return make_ready_version(dataset, is_active=True)


@pytest.fixture
def public_version(make_ready_version):
    """The ready-made public dataset's active version, usable by everyone."""
    public = DatasetFactory(owner=UserFactory(username="sightline"), name="ImageNet-1k", is_public=True)
    return make_ready_version(public, is_active=True)


def _upload(color=RED, name="photo.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, image_bytes(color=color, fmt="PNG"), content_type="image/png")


def _predict(client, version, data, query=""):
    fmt = "json" if "url" in data and "image" not in data else "multipart"
    return client.post(f"/api/v1/model-versions/{version.id}/predict/{query}", data, format=fmt)


# Predict now


def test_predict_an_upload(user_api, user, version):
    response = _predict(user_api, version, {"image": _upload(RED)}, "?top_k=2")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "predictions",
        "is_unknown",
        "unknown_score",
        "model_version",
        "latency_ms",
        "answer",
        "prediction_id",
    }
    assert [row["label"] for row in body["predictions"]] == ["red", "green"]
    probabilities = [row["probability"] for row in body["predictions"]]
    assert probabilities == sorted(probabilities, reverse=True)
    assert (body["is_unknown"], body["model_version"]) == (False, version.id)
    assert body["latency_ms"] > 0
    assert body["answer"]["kind"] == "confident"
    assert body["answer"]["labels"] == ["red"]
    prediction = Prediction.objects.get(id=body["prediction_id"])
    assert (prediction.owner, prediction.model_version, prediction.status) == (user, version, "succeeded")


def test_all_probabilities_sum_to_one(user_api, version):
    body = _predict(user_api, version, {"image": _upload(BLUE)}, "?top_k=3").json()

    assert sum(row["probability"] for row in body["predictions"]) == pytest.approx(1.0, abs=1e-5)


def test_the_threshold_turns_one_answer_into_two(user_api, version):
    body = _predict(user_api, version, {"image": _upload(RED)}, "?threshold=0.999").json()

    assert body["answer"]["kind"] == "uncertain"
    assert body["answer"]["labels"] == ["red", "green"]


def test_an_unknown_image_is_flagged(user_api, version):
    body = _predict(user_api, version, {"image": _upload(GREY)}).json()

    assert body["is_unknown"] is True
    assert body["answer"]["kind"] == "unknown"


def test_predict_an_image_url(user_api, version, image_server):
    image_server.routes["/blue.png"] = Route(body=image_bytes(color=BLUE, fmt="PNG"))

    response = _predict(user_api, version, {"url": image_server.url("/blue.png")})

    assert response.status_code == 200
    assert response.json()["predictions"][0]["label"] == "blue"
    prediction = Prediction.objects.get(id=response.json()["prediction_id"])
    assert prediction.source_url == image_server.url("/blue.png")


@pytest.mark.parametrize(
    ("data", "query", "field", "words"),
    [
        ({"image": SimpleUploadedFile("notes.txt", b"hello")}, "", "image", "notes.txt is not an image"),
        ({"image": SimpleUploadedFile("empty.png", b"")}, "", "image", "empty"),
        ({"url": "http://127.0.0.1/admin/"}, "", "url", "a loopback address"),
        ({"url": "http://169.254.169.254/latest/meta-data/"}, "", "url", "a link-local address"),
        ({"url": "file:///etc/passwd"}, "", "url", "Only http and https"),
        ({"image": None}, "?top_k=4", "top_k", "between 1 and 3"),
        ({"image": None}, "?top_k=0", "top_k", "between 1 and 3"),
        ({"image": None}, "?top_k=many", "top_k", "valid integer"),
        ({"image": None}, "?threshold=2", "threshold", "less than or equal to 1"),
        ({}, "", "image", "Send an image file"),
        ({"image": None, "url": "https://example.com/a.png"}, "", "url", "not both"),
    ],
)
def test_bad_input_is_a_400_naming_the_problem(user_api, version, data, query, field, words):
    data = {key: _upload() if value is None else value for key, value in data.items()}
    fmt = "json" if set(data) == {"url"} or not data else "multipart"

    response = user_api.post(f"/api/v1/model-versions/{version.id}/predict/{query}", data, format=fmt)

    assert response.status_code == 400
    assert words in " ".join(response.json()[field])
    assert not Prediction.objects.exists()


def test_a_version_that_is_not_ready_is_a_409(user_api, dataset, make_ready_version):
    training = make_ready_version(dataset, status=ModelVersion.Status.TRAINING)

    response = _predict(user_api, training, {"image": _upload()})

    assert response.status_code == 409
    assert "not ready" in response.json()["detail"]


def test_another_users_version_is_a_404(other_api, version):
    assert _predict(other_api, version, {"image": _upload()}).status_code == 404


def test_predictions_need_a_signed_in_user(api_client, version):
    assert _predict(api_client, version, {"image": _upload()}).status_code in (401, 403)


# A dataset's active version


def test_predict_with_a_datasets_active_version(user_api, dataset, version, make_ready_version):
    make_ready_version(dataset, number=2, classes=OTHER_CLASSES)

    response = user_api.post(f"/api/v1/datasets/{dataset.id}/predict/", {"image": _upload(BLUE)}, format="multipart")

    assert response.status_code == 200
    assert response.json()["model_version"] == version.id


def test_a_dataset_without_an_active_version_is_a_409(user_api, dataset, make_ready_version):
    make_ready_version(dataset, is_active=False)

    response = user_api.post(f"/api/v1/datasets/{dataset.id}/predict/", {"image": _upload()}, format="multipart")

    assert response.status_code == 409
    assert "no active model version" in response.json()["detail"]


def test_another_users_dataset_is_a_404(other_api, dataset, version):
    response = other_api.post(f"/api/v1/datasets/{dataset.id}/predict/", {"image": _upload()}, format="multipart")

    assert response.status_code == 404


# Public datasets


def test_a_public_version_is_usable_and_readable_by_everyone_but_changeable_by_none(
    other_api, other_user, public_version
):
    dataset_id = public_version.dataset_id

    by_version = _predict(other_api, public_version, {"image": _upload(RED)})
    by_dataset = other_api.post(f"/api/v1/datasets/{dataset_id}/predict/", {"image": _upload()}, format="multipart")
    detail = other_api.get(f"/api/v1/model-versions/{public_version.id}/")

    assert (by_version.status_code, by_dataset.status_code, detail.status_code) == (200, 200, 200)
    assert Prediction.objects.get(id=by_version.json()["prediction_id"]).owner == other_user
    assert other_api.post(f"/api/v1/model-versions/{public_version.id}/promote/").status_code == 404
    assert other_api.post(f"/api/v1/model-versions/{public_version.id}/retrain/").status_code == 403
    assert other_api.delete(f"/api/v1/model-versions/{public_version.id}/").status_code == 404
    assert ModelVersion.objects.filter(id=public_version.id, is_active=True).exists()


def test_a_public_datasets_image_can_be_added_by_staff_only(other_api, staff_api, public_version):
    mine = _predict(other_api, public_version, {"image": _upload(RED)}).json()["prediction_id"]
    staffs = _predict(staff_api, public_version, {"image": _upload(BLUE)}).json()["prediction_id"]

    refused = other_api.post(f"/api/v1/predictions/{mine}/add-to-dataset/", {"label": "red"}, format="json")
    # ImageNet-1k's dataset holds no classes, only its versions' names: the first image of one starts it.
    added = staff_api.post(
        f"/api/v1/predictions/{staffs}/add-to-dataset/", {"label": "blue", "new_class": True}, format="json"
    )

    assert refused.status_code == 403
    assert "only staff" in refused.json()["detail"]
    assert added.status_code == 201


def test_without_a_threshold_the_answer_uses_the_versions_own(user_api, dataset, make_ready_version):
    # The ready ImageNet models store a lower threshold; the colour models give this greyish red about 44%.
    calibration = {"temperature": 1.0, "recalibrated": False, "answer_threshold": 0.25}
    version = make_ready_version(dataset, detector=False, calibration=calibration)

    default = _predict(user_api, version, {"image": _upload((120, 110, 100))}).json()
    asked = _predict(user_api, version, {"image": _upload((120, 110, 100))}, "?threshold=0.5").json()

    assert (default["answer"]["kind"], asked["answer"]["kind"]) == ("confident", "uncertain")
    assert Prediction.objects.get(id=default["prediction_id"]).details["threshold"] == 0.25


# Ensembles


def test_an_ensemble_answers_each_members_top_three_and_their_mean(user_api, dataset, make_ready_version):
    first = make_ready_version(dataset)
    second = make_ready_version(dataset, number=2)

    response = user_api.post(
        "/api/v1/ensembles/predict/",
        {"image": _upload(RED), "model_versions": [first.id, second.id]},
        format="multipart",
    )

    assert response.status_code == 200
    body = response.json()
    assert [member["model_version"] for member in body["members"]] == [first.id, second.id]
    assert all(len(member["predictions"]) == 3 for member in body["members"])
    ensemble = {row["label"]: row["probability"] for row in body["ensemble"]["predictions"]}
    assert set(ensemble) == {"red", "green", "blue"}
    members = [{row["label"]: row["probability"] for row in member["predictions"]} for member in body["members"]]
    assert ensemble["red"] == pytest.approx((members[0]["red"] + members[1]["red"]) / 2, abs=1e-6)
    assert (body["is_unknown"], body["shared_classes_only"]) == (False, False)
    assert Prediction.objects.get(id=body["prediction_id"]).ensemble_version_ids == [first.id, second.id]


def _faces_version(user, make_ready_version):
    """A 2-class version (its model is never run: the class sets are checked first)."""
    faces = make_ready_version(DatasetFactory(owner=user, name="Faces"))
    ModelVersion.objects.filter(id=faces.id).update(class_names=["face", "no face"])
    return faces


def test_an_ensemble_of_versions_with_different_classes_is_a_400_naming_them(
    user, user_api, dataset, make_ready_version, public_version
):
    faces = _faces_version(user, make_ready_version)

    response = user_api.post(
        "/api/v1/ensembles/predict/",
        {"image": _upload(RED), "model_versions": [faces.id, public_version.id]},
        format="multipart",
    )

    assert response.status_code == 400
    message = " ".join(response.json()["model_versions"])
    assert '"Faces" v1 (2 classes), "ImageNet-1k" v1 (3 classes)' in message
    assert "They share 0 classes" in message
    assert not Prediction.objects.exists()


def test_shared_classes_only_combines_what_the_versions_share(user_api, dataset, make_ready_version):
    first = make_ready_version(dataset)
    second = make_ready_version(dataset, number=2, classes=OTHER_CLASSES)
    data = {"image": _upload(RED), "model_versions": [first.id, second.id]}

    refused = user_api.post("/api/v1/ensembles/predict/", data, format="multipart")
    data["image"] = _upload(RED)
    response = user_api.post("/api/v1/ensembles/predict/", {**data, "shared_classes_only": "true"}, format="multipart")

    assert refused.status_code == 400
    assert "shared_classes_only" in " ".join(refused.json()["model_versions"])
    assert response.status_code == 200
    body = response.json()
    assert {row["label"] for row in body["ensemble"]["predictions"]} == {"red", "blue"}
    assert body["ensemble"]["predictions"][0]["label"] == "red"
    assert body["shared_classes_only"] is True
    assert Prediction.objects.count() == 1


def test_shared_classes_only_with_fewer_than_two_shared_is_a_400(user, user_api, version, make_ready_version):
    faces = _faces_version(user, make_ready_version)

    response = user_api.post(
        "/api/v1/ensembles/predict/",
        {"url": "http://example.com/a.png", "model_versions": [version.id, faces.id], "shared_classes_only": True},
        format="json",
    )

    assert response.status_code == 400
    assert "share 0 classes" in " ".join(response.json()["model_versions"])
    assert not Prediction.objects.exists()


def test_the_schema_documents_shared_classes_only(user_api):
    schema = user_api.get("/api/v1/schema/?format=json").json()

    field = schema["components"]["schemas"]["EnsemblePredictInputRequest"]["properties"]["shared_classes_only"]
    assert field["type"] == "boolean" and "classes they all know" in field["description"]


def test_an_ensemble_by_url_in_json(user_api, dataset, make_ready_version, image_server):
    image_server.routes["/r.png"] = Route(body=image_bytes(color=RED, fmt="PNG"))
    versions = [make_ready_version(dataset).id, make_ready_version(dataset, number=2).id]

    response = user_api.post(
        "/api/v1/ensembles/predict/", {"url": image_server.url("/r.png"), "model_versions": versions}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["ensemble"]["predictions"][0]["label"] == "red"


def test_an_ensemble_needs_two_to_five_versions(user_api, version):
    response = user_api.post(
        "/api/v1/ensembles/predict/", {"image": _upload(), "model_versions": [version.id]}, format="multipart"
    )

    assert response.status_code == 400
    assert "model_versions" in response.json()


def test_an_ensemble_with_another_users_version_is_a_404(other_api, other_user, version, make_ready_version):
    own = make_ready_version(DatasetFactory(owner=other_user))

    response = other_api.post(
        "/api/v1/ensembles/predict/", {"image": _upload(), "model_versions": [own.id, version.id]}, format="multipart"
    )

    assert response.status_code == 404
    assert str(version.id) in response.json()["detail"]


# Queued predictions and the history


def test_a_queued_prediction_is_answered_by_the_worker(user_api, version, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = user_api.post(
            "/api/v1/predictions/", {"image": _upload(BLUE), "model_version": version.id}, format="multipart"
        )

    assert response.status_code == 202
    assert set(response.json()) == {"id", "status"}
    assert response.json()["status"] == "queued"
    detail = user_api.get(f"/api/v1/predictions/{response.json()['id']}/").json()
    assert detail["status"] == "succeeded"
    assert detail["predictions"][0]["label"] == "blue"
    assert detail["answer"]["labels"] == ["blue"]
    assert detail["members"] is None
    image = user_api.get(detail["image_url"])
    assert image.status_code == 200
    assert image["Content-Type"] == "image/png"
    assert b"".join(image.streaming_content) == image_bytes(color=BLUE, fmt="PNG")


def test_a_queued_url_that_is_refused_ends_failed_with_the_reason(
    user_api, version, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = user_api.post(
            "/api/v1/predictions/", {"url": "http://10.0.0.8/cat.jpg", "model_version": version.id}, format="json"
        )

    detail = user_api.get(f"/api/v1/predictions/{response.json()['id']}/").json()
    assert detail["status"] == "failed"
    assert "a private address" in detail["error"]
    assert detail["image_url"] is None


def test_queueing_with_another_users_version_is_a_404(other_api, version):
    response = other_api.post(
        "/api/v1/predictions/", {"image": _upload(), "model_version": version.id}, format="multipart"
    )

    assert response.status_code == 404


def test_the_history_lists_only_your_own_predictions(user_api, other_api, version, public_version):
    for color in (RED, BLUE):
        _predict(user_api, version, {"image": _upload(color)})
    theirs = _predict(other_api, public_version, {"image": _upload()}).json()["prediction_id"]

    history = user_api.get("/api/v1/predictions/").json()

    assert history["count"] == 2
    assert [row["predictions"][0]["label"] for row in history["results"]] == ["blue", "red"]
    assert user_api.get(f"/api/v1/predictions/{theirs}/").status_code == 404
    assert user_api.get(f"/api/v1/predictions/{theirs}/image/").status_code == 404
    assert user_api.post(f"/api/v1/predictions/{theirs}/feedback/", {"is_correct": True}).status_code == 404


# Feedback and adding to the dataset


def test_feedback_then_add_the_image_to_the_dataset(user_api, dataset, version):
    crimson = LabelClassFactory(dataset=dataset, name="crimson")
    prediction_id = _predict(user_api, version, {"image": _upload(RED)}).json()["prediction_id"]

    feedback = user_api.post(
        f"/api/v1/predictions/{prediction_id}/feedback/",
        {"is_correct": False, "correct_label": "crimson"},
        format="json",
    )
    added = user_api.post(f"/api/v1/predictions/{prediction_id}/add-to-dataset/", {"label": "crimson"}, format="json")
    again = user_api.post(f"/api/v1/predictions/{prediction_id}/add-to-dataset/", {"label": "crimson"}, format="json")

    assert feedback.status_code == 200
    assert (feedback.json()["is_correct"], feedback.json()["correct_label"]) == (False, "crimson")
    assert added.status_code == 201
    assert (added.json()["label"], added.json()["dataset"], added.json()["origin"]) == ("crimson", dataset.id, "upload")
    image = DatasetImage.objects.get(id=added.json()["id"])
    assert (image.label, image.from_predictions.get().id) == (crimson, prediction_id)
    assert again.status_code == 400
    assert "same picture" in again.json()["detail"]


def test_feedback_with_a_typo_is_a_400_naming_the_classes(user_api, dataset, version):
    LabelClassFactory(dataset=dataset, name="crimson")
    prediction_id = _predict(user_api, version, {"image": _upload(RED)}).json()["prediction_id"]

    response = user_api.post(
        f"/api/v1/predictions/{prediction_id}/feedback/",
        {"is_correct": False, "correct_label": "crimsen"},
        format="json",
    )

    assert response.status_code == 400
    message = response.json()["correct_label"][0]
    assert 'Did you mean "crimson"?' in message
    # The dataset's classes and the version's.
    assert "Its classes: blue, crimson, green, red." in message
    prediction = Prediction.objects.get(id=prediction_id)
    assert (prediction.is_correct, prediction.correct_label) == (None, "")


def test_a_new_class_is_made_only_when_asked_for(user_api, dataset, version):
    prediction_id = _predict(user_api, version, {"image": _upload(RED)}).json()["prediction_id"]
    feedback = f"/api/v1/predictions/{prediction_id}/feedback/"
    add = f"/api/v1/predictions/{prediction_id}/add-to-dataset/"

    named = user_api.post(feedback, {"is_correct": False, "correct_label": "crimson", "new_class": True}, format="json")
    refused = user_api.post(add, {"label": "crimson"}, format="json")

    assert named.status_code == 200
    assert named.json()["correct_label"] == "crimson"
    assert refused.status_code == 400
    assert '"crimson" is not a class of "Colours". It has no classes yet.' in refused.json()["label"][0]
    assert not LabelClass.objects.exists() and not DatasetImage.objects.exists()

    added = user_api.post(add, {"label": "crimson", "new_class": True}, format="json")

    assert added.status_code == 201
    assert list(LabelClass.objects.filter(dataset=dataset).values_list("name", flat=True)) == ["crimson"]
    assert DatasetImage.objects.get().label.name == "crimson"


def test_feedback_on_a_prediction_without_an_answer_is_a_409(user_api, user, version):
    queued = Prediction.objects.create(owner=user, model_version=version)

    response = user_api.post(f"/api/v1/predictions/{queued.id}/feedback/", {"is_correct": True}, format="json")

    assert response.status_code == 409


def test_feedback_needs_is_correct(user_api, version):
    prediction_id = _predict(user_api, version, {"image": _upload()}).json()["prediction_id"]

    response = user_api.post(f"/api/v1/predictions/{prediction_id}/feedback/", {}, format="json")

    assert response.status_code == 400
    assert "is_correct" in response.json()


# Batch predictions


def _zip(members: dict[str, bytes]) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return SimpleUploadedFile("photos.zip", buffer.getvalue(), content_type="application/zip")


def test_a_batch_prediction_links_its_csv(user_api, other_api, version, django_capture_on_commit_callbacks):
    archive = _zip({"a/red.png": image_bytes(color=RED, fmt="PNG"), "b.txt": b"nope"})

    with django_capture_on_commit_callbacks(execute=True):
        response = user_api.post(
            f"/api/v1/model-versions/{version.id}/batch-predictions/", {"archive": archive}, format="multipart"
        )

    assert response.status_code == 202
    queued = response.json()["job"]
    assert (queued["kind"], queued["status"], queued["model_version"]) == ("batch_predict", "queued", version.id)
    job = user_api.get(f"/api/v1/jobs/{queued['id']}/").json()
    assert job["status"] == "succeeded"
    assert job["report"]["predicted"] == 1
    assert job["result_url"].endswith(f"/api/v1/jobs/{queued['id']}/result/")
    download = user_api.get(job["result_url"])
    assert download.status_code == 200
    assert download["Content-Type"].startswith("text/csv")
    assert "attachment" in download["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert [(row["filename"], row["label"], row["is_unknown"]) for row in rows] == [
        ("a/red.png", "red", "false"),
        ("b.txt", "", ""),
    ]
    assert "b.txt is not an image" in rows[1]["error"]
    assert other_api.get(job["result_url"]).status_code == 404


def test_a_job_without_a_result_has_no_download(user_api, user):
    from tests.factories import JobFactory

    job = JobFactory(requested_by=user)

    assert user_api.get(f"/api/v1/jobs/{job.id}/").json()["result_url"] is None
    assert user_api.get(f"/api/v1/jobs/{job.id}/result/").status_code == 404


@pytest.mark.parametrize(
    ("archive", "words"),
    [
        (SimpleUploadedFile("photos.zip", b"plain text"), "not a ZIP archive"),
        (None, "No file was submitted"),
    ],
)
def test_a_batch_needs_a_zip(user_api, version, archive, words):
    data = {"archive": archive} if archive is not None else {}

    response = user_api.post(f"/api/v1/model-versions/{version.id}/batch-predictions/", data, format="multipart")

    assert response.status_code == 400
    assert words in " ".join(response.json()["archive"])


def test_a_batch_with_a_version_that_is_not_ready_is_a_409(user_api, dataset, make_ready_version):
    failed = make_ready_version(dataset, status=ModelVersion.Status.FAILED)

    response = user_api.post(
        f"/api/v1/model-versions/{failed.id}/batch-predictions/", {"archive": _zip({"a.png": b"x"})}, format="multipart"
    )

    assert response.status_code == 409


def test_a_batch_with_another_users_version_is_a_404(other_api, version):
    response = other_api.post(
        f"/api/v1/model-versions/{version.id}/batch-predictions/",
        {"archive": _zip({"a.png": b"x"})},
        format="multipart",
    )

    assert response.status_code == 404


def test_sync_url_fetches_beyond_the_limit_are_refused_at_once_and_queued_ones_are_not(
    user_api, version, image_server, settings, monkeypatch
):
    from classifier.services import url_fetch

    image_server.routes["/blue.png"] = Route(body=image_bytes(color=BLUE, fmt="PNG"))
    settings.SIGHTLINE_URL_FETCH_SYNC_CONCURRENCY = 2
    # Two slow URLs are being fetched by other requests of this process right now.
    monkeypatch.setattr(url_fetch, "_sync_fetching", 2)

    refused = _predict(user_api, version, {"url": image_server.url("/blue.png")})

    assert refused.status_code == 429
    body = refused.json()
    assert (body["quota"], body["used"], body["allowed"]) == ("url_fetches_now", 2, 2)
    assert "send the image itself" in body["detail"]
    assert not Prediction.objects.exists()
    # A queued prediction fetches on a worker: not bounded here.
    queued = user_api.post(
        "/api/v1/predictions/", {"model_version": version.id, "url": image_server.url("/blue.png")}, format="json"
    )
    assert queued.status_code == 202, queued.content
    monkeypatch.setattr(url_fetch, "_sync_fetching", 0)
    assert _predict(user_api, version, {"url": image_server.url("/blue.png")}).status_code == 200
    assert url_fetch._sync_fetching == 0, "the slot is given back"
