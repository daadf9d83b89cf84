"""Training options have upper limits the operator sets: a request beyond one is a 400 naming the option,
the limit and the setting, and nothing is created (no version, no job)."""

import pytest

from classifier.models import ModelVersion
from tests.classifier.model_version_support import start_training, trainable_dataset
from training_jobs.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(user):
    return trainable_dataset(user)


@pytest.mark.parametrize(
    ("options", "field", "words"),
    [
        ({"epochs": 99_999_999}, "epochs", "epochs may be at most 300 on this server (SIGHTLINE_MAX_EPOCHS)"),
        ({"fine_tune_epochs": 10_000}, "fine_tune_epochs", "at most 300"),
        ({"early_stopping_patience": 5_000}, "early_stopping_patience", "at most 300"),
        ({"image_size": 20_000}, "image_size", "image_size may be at most 448 for EfficientNet-Lite0"),
        ({"batch_size": 10_000_000}, "batch_size", "batch_size may be at most 512 on this server"),
        ({"fine_tune_layers": 100_000}, "fine_tune_layers", "SIGHTLINE_MAX_FINE_TUNE_LAYERS"),
    ],
)
def test_an_option_beyond_its_limit_is_400_naming_it_and_nothing_is_created(user_api, dataset, options, field, words):
    response = start_training(user_api, dataset, {"backbone": "efficientnet_lite0", **options})

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert words in response.json()[field][0]
    assert not ModelVersion.objects.exists() and not Job.objects.exists()


def test_every_option_beyond_its_limit_is_named_at_once(user_api, dataset):
    response = start_training(user_api, dataset, {"epochs": 1_000, "batch_size": 100_000})

    assert response.status_code == 400
    assert set(response.json()) == {"epochs", "batch_size"}


def test_the_image_size_limit_follows_the_backbone(user_api, dataset):
    # EfficientNet-Lite2's weights were trained at 260 px: twice that is allowed, a pixel more is not.
    allowed = start_training(user_api, dataset, {"backbone": "efficientnet_lite2", "image_size": 520})
    refused = start_training(user_api, dataset, {"backbone": "efficientnet_lite2", "image_size": 521})

    assert allowed.status_code == 202, allowed.content
    assert refused.status_code == 400
    assert "at most 520 for EfficientNet-Lite2" in refused.json()["image_size"][0]


def test_the_operator_sets_the_limits(user_api, dataset, settings):
    settings.SIGHTLINE_MAX_EPOCHS = 5
    settings.SIGHTLINE_MAX_BATCH_SIZE = 8

    at_limit = start_training(user_api, dataset, {"epochs": 5, "batch_size": 8})
    beyond = start_training(user_api, dataset, {"epochs": 6})

    assert at_limit.status_code == 202, at_limit.content
    assert ModelVersion.objects.get(id=at_limit.json()["id"]).hyperparameters["epochs"] == 5
    assert beyond.status_code == 400 and "at most 5" in beyond.json()["epochs"][0]
    assert ModelVersion.objects.count() == 1
