"""Backbones API: every registered backbone, its input size and whether its ImageNet weights are here."""

import pytest

from classifier.ml.backbone_registry import available_backbones
from classifier.ml.backbone_weights import weights_file_name

pytestmark = pytest.mark.django_db


@pytest.fixture
def weights_dir(settings, tmp_path, monkeypatch):
    # Keras's own download cache on this machine must not decide the answer.
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    settings.SIGHTLINE_WEIGHTS_DIR = tmp_path / "weights"
    settings.SIGHTLINE_WEIGHTS_DIR.mkdir()
    return settings.SIGHTLINE_WEIGHTS_DIR


def test_backbones_are_listed_with_input_size_and_weights_availability(user_api, weights_dir):
    (weights_dir / weights_file_name("mobilenet_v2")).write_bytes(b"placed by the operator")

    response = user_api.get("/api/v1/backbones/")

    assert response.status_code == 200
    backbones = {entry["name"]: entry for entry in response.json()}
    assert list(backbones) == [spec.name for spec in available_backbones()]
    assert backbones["mobilenet_v2"] == {
        "name": "mobilenet_v2",
        "label": "MobileNetV2",
        "input_size": 224,
        "pretrained_weights_available": True,
    }
    assert backbones["xception"]["input_size"] == 299
    assert backbones["resnet50"]["pretrained_weights_available"] is False


def test_weights_placed_after_start_up_count_at_once(user_api, weights_dir):
    def resnet_ready():
        return next(b for b in user_api.get("/api/v1/backbones/").json() if b["name"] == "resnet50")[
            "pretrained_weights_available"
        ]

    assert resnet_ready() is False
    (weights_dir / weights_file_name("resnet50")).write_bytes(b"placed by the operator")
    assert resnet_ready() is True


def test_backbones_need_a_signed_in_user(api_client):
    assert api_client.get("/api/v1/backbones/").status_code == 401
