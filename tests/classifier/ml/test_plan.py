"""The plan: what a time budget and a dataset make of the options a user left out, and why."""

import numpy as np
import pytest

from classifier.ml.backbone_registry import get_backbone_spec
from classifier.ml.config import TrainingConfig
from classifier.ml.plan import DataSummary, budget_minutes_resolve, plan_training
from classifier.ml.views import MIRRORED, ORIGINAL, view_names, view_of

LITE0 = get_backbone_spec("efficientnet_lite0")


def _data(side: int, train: int = 6000) -> DataSummary:
    return DataSummary(train_count=train, val_count=train // 8, test_count=train // 8, class_count=10, median_side=side)


@pytest.mark.parametrize(
    ("side", "minutes", "size"),
    [(28, 2, 64), (28, 10, 96), (28, 60, 128), (150, 10, 160), (640, 10, 224), (640, 2, 160), (100, 10, 128)],
)
def test_the_input_size_follows_the_pictures_and_the_budget(side, minutes, size):
    plan = plan_training(given={}, spec=LITE0, data=_data(side), budget_minutes=minutes)

    assert plan.chosen["image_size"] == size
    assert any(f"{side} px" in reason for reason in plan.reasons)


def test_options_the_user_gave_are_kept_and_the_rest_is_planned():
    plan = plan_training(given={"image_size": 224, "epochs": 3}, spec=LITE0, data=_data(28), budget_minutes=10)

    assert "image_size" not in plan.chosen and "epochs" not in plan.chosen
    assert plan.chosen["fine_tune_fraction"] == 0.5 and plan.chosen["fine_tune_epochs"] == 8
    config = TrainingConfig.from_dict({**plan.chosen, "image_size": 224, "epochs": 3})
    assert config.fine_tuning_enabled


def test_a_longer_budget_plans_more_epochs_and_views_and_keeps_time_for_the_exports():
    quick, standard, best = (
        plan_training(given={}, spec=LITE0, data=_data(28), budget_minutes=m) for m in (2, 10, 60)
    )

    assert quick.chosen["fine_tune_epochs"] < standard.chosen["fine_tune_epochs"] < best.chosen["fine_tune_epochs"]
    assert quick.chosen["augment_views"] == standard.chosen["augment_views"] == 2 < best.chosen["augment_views"]
    assert 25 <= quick.reserve_seconds < standard.reserve_seconds < best.reserve_seconds
    assert quick.training_seconds == 120 - quick.reserve_seconds
    assert quick.to_dict()["training_seconds"] == pytest.approx(quick.training_seconds, abs=0.1)


def test_no_mirror_images_when_the_user_says_mirroring_changes_the_meaning():
    plan = plan_training(given={"horizontal_flip": False}, spec=LITE0, data=_data(28), budget_minutes=60)

    assert any("No mirror images" in reason for reason in plan.reasons)
    assert view_names(augment=True, horizontal_flip=False, count=4) == [ORIGINAL, "shifted-1", "shifted-2", "shifted-3"]
    assert view_names(augment=True, horizontal_flip=True, count=2) == [ORIGINAL, MIRRORED]
    assert view_names(augment=False, horizontal_flip=True, count=4) == [ORIGINAL]


@pytest.mark.parametrize(("value", "minutes"), [(None, 10), ("quick", 2), ("Best", 60), (7.5, 7.5), ("3", 3)])
def test_a_budget_is_a_preset_or_a_number_of_minutes(value, minutes):
    assert budget_minutes_resolve(value, maximum=240) == minutes


@pytest.mark.parametrize("value", [0, -2, 241, "later", True, float("nan")])
def test_a_budget_out_of_range_names_the_range(value):
    with pytest.raises(ValueError, match="above 0 and at most 240"):
        budget_minutes_resolve(value, maximum=240)


def test_a_shifted_view_is_the_same_every_time_and_differs_between_images():
    pixels = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)

    first = view_of(pixels, "shifted-1", sha256="a" * 64)
    again = view_of(pixels, "shifted-1", sha256="a" * 64)
    other = view_of(pixels, "shifted-1", sha256="b" * 64)

    assert first.shape == pixels.shape and first.dtype == np.uint8
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    np.testing.assert_array_equal(view_of(pixels, MIRRORED, sha256="a" * 64), pixels[:, ::-1])


def test_fine_tune_layers_zero_means_no_fine_tuning():
    plan = plan_training(given={"fine_tune_layers": 0}, spec=LITE0, data=_data(28), budget_minutes=10)

    config = TrainingConfig.from_dict({**plan.chosen, "fine_tune_layers": 0})
    assert not config.fine_tuning_enabled


def test_no_augmentation_means_one_view_and_no_mirror_check():
    plan = plan_training(given={"augment": False}, spec=LITE0, data=_data(28), budget_minutes=10)

    assert plan.chosen["augment_views"] == 1
    assert any("No augmentation, as asked" in reason for reason in plan.reasons)
    assert not any("mirror" in reason.lower() for reason in plan.reasons)
