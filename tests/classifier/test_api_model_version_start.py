"""Model-versions API: starting training, with the dataset, backbone, budget and hyperparameter checks
that refuse a version before anything is queued.

Training itself never runs here: a started version's task is only queued (its on-commit callback is
captured, not executed), and ready versions are made directly as rows with stored files.
"""

import pytest

from classifier.models import ModelVersion
from tests.classifier.model_version_support import Split, Status, add_class, start_training, trainable_dataset
from training_jobs.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(user):
    return trainable_dataset(user)


# Starting a version


def test_starting_a_version_queues_its_training_job(user, user_api, dataset, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = start_training(
            user_api, dataset, {"backbone": "efficientnet_lite0", "epochs": 3, "fine_tune_layers": 10}
        )

    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"id", "number", "status", "job"}
    assert (body["number"], body["status"]) == (1, "queued")
    job = body["job"]
    assert (job["kind"], job["status"], job["model_version"], job["dataset"]) == (
        "train",
        "queued",
        body["id"],
        dataset.id,
    )
    version = ModelVersion.objects.get(id=body["id"])
    # The dataset's 32 px pictures are trained at 96 px by the Standard plan, not at 224.
    assert (version.status, version.backbone, version.image_size, version.created_by) == (
        Status.QUEUED,
        "efficientnet_lite0",
        96,
        user,
    )
    assert version.class_names == ["robin", "wren"]
    assert version.hyperparameters["epochs"] == 3
    assert version.hyperparameters["fine_tune_layers"] == 10
    assert version.hyperparameters["weights"] == "imagenet"
    assert Job.objects.get(model_version=version).status == Job.Status.QUEUED
    # The training task is sent once the request's transaction commits; it is not run in this test.
    assert len(callbacks) == 1


def test_class_names_are_frozen_in_order_when_the_version_starts(user, user_api):
    dataset = trainable_dataset(user, classes=("wren", "blackbird", "robin"))

    version_id = start_training(user_api, dataset, {"backbone": "efficientnet_lite0"}).json()["id"]
    add_class(dataset, "sparrow")

    detail = user_api.get(f"/api/v1/model-versions/{version_id}/").json()
    assert detail["class_names"] == ["blackbird", "robin", "wren"]


def test_versions_are_numbered_per_dataset(user, user_api, dataset, settings):
    settings.SIGHTLINE_QUOTA_ACTIVE_GPU_JOBS = 0  # two trainings queued at once: no quota on them here
    other_dataset = trainable_dataset(user, name="Pond birds")

    numbers = [start_training(user_api, dataset, {"backbone": "efficientnet_lite0"}).json()["number"] for _ in range(2)]

    assert numbers == [1, 2]
    assert start_training(user_api, other_dataset, {"backbone": "efficientnet_lite0"}).json()["number"] == 1


def test_a_version_can_start_from_random_weights(user_api, dataset):
    response = start_training(user_api, dataset, {"backbone": "resnet50", "weights": "none", "image_size": 160})

    assert response.status_code == 202
    version = ModelVersion.objects.get(id=response.json()["id"])
    assert (version.backbone, version.image_size) == ("resnet50", 160)
    assert version.hyperparameters["weights"] is None


def test_a_dataset_with_fewer_than_two_classes_is_400(user, user_api):
    dataset = trainable_dataset(user, classes=("robin",))

    response = start_training(user_api, dataset, {"backbone": "efficientnet_lite0"})

    assert response.status_code == 400
    assert response.json() == {"dataset": ["Training needs at least 2 classes with images; this dataset has 1."]}
    assert not ModelVersion.objects.exists()
    assert not Job.objects.exists()


def test_a_class_without_validation_images_is_400_naming_it(user, user_api):
    dataset = trainable_dataset(user, classes=("robin",))
    add_class(dataset, "wren", splits=(Split.TRAIN, Split.TRAIN))

    response = start_training(user_api, dataset, {"backbone": "efficientnet_lite0"})

    assert response.status_code == 400
    assert response.json() == {
        "dataset": [
            'Every class needs training and validation images: "wren" has no validation images '
            "(2 train, 0 validation). Reassign the splits, or add images"
        ]
    }
    assert not ModelVersion.objects.exists()


def test_a_one_image_class_is_400_saying_to_add_pictures_or_delete_it(user, user_api):
    dataset = trainable_dataset(user, classes=("robin",))
    add_class(dataset, "robbin", splits=(Split.TRAIN,))

    response = start_training(user_api, dataset, {})

    assert response.status_code == 400
    message = response.json()["dataset"][0]
    assert '"robbin" has only 1 image' in message
    assert "Add more pictures of it, or delete the class" in message
    assert not ModelVersion.objects.exists()


def test_an_unknown_backbone_is_400_listing_the_valid_ones(user_api, dataset):
    response = start_training(user_api, dataset, {"backbone": "alexnet"})

    assert response.status_code == 400
    [message] = response.json()["backbone"]
    assert message.startswith("unknown backbone 'alexnet'; choose one of: mobilenet_v2, ")
    assert "efficientnet_lite0" in message
    assert not ModelVersion.objects.exists()


@pytest.mark.parametrize(
    ("options", "errors"),
    [
        ({"epochs": 0}, {"epochs": ["epochs must be at least 1, got 0"]}),
        ({"learning_rate": 2}, {"learning_rate": ["learning_rate must be at most 1.0, got 2.0"]}),
        ({"image_size": 8}, {"image_size": ["image_size must be at least 32, got 8"]}),
        ({"epochs": "many"}, {"epochs": ["A valid integer is required."]}),
        ({"weights": "maybe"}, {"weights": ['"maybe" is not a valid choice.']}),
    ],
)
def test_bad_hyperparameters_are_400_naming_the_field(user_api, dataset, options, errors):
    response = start_training(user_api, dataset, {"backbone": "efficientnet_lite0", **options})

    assert response.status_code == 400
    assert response.json() == errors
    assert not ModelVersion.objects.exists()


def test_an_empty_request_trains_with_the_standard_plan_on_a_backbone_whose_weights_are_here(user_api, dataset):
    response = start_training(user_api, dataset, {})

    assert response.status_code == 202
    version = ModelVersion.objects.get(id=response.json()["id"])
    assert (version.backbone, version.hyperparameters["weights"]) == ("efficientnet_lite0", "imagenet")
    detail = user_api.get(f"/api/v1/model-versions/{version.id}/").json()
    assert detail["plan"]["budget_minutes"] == 10
    assert detail["plan"]["chosen"]["image_size"] == 96 and detail["plan"]["reasons"]
    assert detail["eta_seconds"] == 600


def test_a_backbone_without_weights_here_is_refused_naming_the_file_and_the_ones_that_work(
    user_api, dataset, settings, tmp_path
):
    settings.SIGHTLINE_WEIGHTS_DIR = tmp_path / "weights"

    response = start_training(user_api, dataset, {"backbone": "resnet50"})

    assert response.status_code == 400
    message = response.json()["backbone"][0]
    assert "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    assert str(tmp_path / "weights") in message
    assert "efficientnet_lite0, efficientnet_lite1, efficientnet_lite2" in message
    assert not ModelVersion.objects.exists()


@pytest.mark.parametrize("budget", [0, -1, "soon", 100000, True])
def test_a_budget_out_of_range_is_refused_naming_the_range(user_api, dataset, budget):
    response = start_training(user_api, dataset, {"budget_minutes": budget})

    assert response.status_code == 400
    assert "budget_minutes must be a number of minutes above 0 and at most 240" in response.json()["budget_minutes"][0]
    assert not ModelVersion.objects.exists()


@pytest.mark.parametrize(("budget", "minutes"), [("quick", 2), ("best", 60), (25, 25), ("7.5", 7.5)])
def test_a_budget_is_a_preset_or_minutes(user_api, dataset, budget, minutes):
    response = start_training(user_api, dataset, {"budget_minutes": budget})

    assert response.status_code == 202, response.json()
    assert ModelVersion.objects.get().plan["budget_minutes"] == minutes


def test_training_options_are_taken_as_json_only(user_api, dataset):
    # A form would send an unticked "augment" as false; JSON keeps "not given" apart from false.
    response = user_api.post(f"/api/v1/datasets/{dataset.id}/model-versions/", {"backbone": "efficientnet_lite0"})

    assert response.status_code == 415
