"""Where a training runs: one CPU as before; several devices mirrored (tested by splitting the CPU into two
logical devices, in a subprocess since that must happen before TensorFlow starts); mixed precision as
on a GPU, still giving a float32 model that exports and serves."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from classifier.ml import devices
from classifier.ml.export import export_tflite
from classifier.ml.features import MemoryFeatureCache
from classifier.ml.training import predict_probabilities, train
from tests.classifier.ml.test_training import CLASS_NAMES, config, square_records

ROOT = Path(__file__).resolve().parents[3]

TWO_CPU_REPLICAS = """
import json, sys, tempfile
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from classifier.ml.export import export_tflite
from classifier.ml.training import predict_probabilities, train
from tests.classifier.ml.test_training import CLASS_NAMES, config, square_records

train_images, train_labels = square_records(8, seed=0)
val_images, val_labels = square_records(4, seed=1)
result = train(config(epochs=3), train_images, train_labels, val_images, val_labels, CLASS_NAMES)
probabilities = predict_probabilities(result.model, val_images, image_size=32)
with tempfile.TemporaryDirectory() as folder:
    tflite_difference = export_tflite(result.model, folder + "/model.tflite")
json.dump({
    "devices": result.devices,
    "replicas": result.replicas,
    "precision": result.precision,
    "val_accuracy": result.history[-1]["val_accuracy"],
    "accuracy": float((probabilities.argmax(axis=1) == val_labels).mean()),
    "same_as_training": float(abs(probabilities - result.val_probabilities).max()),
    "tflite_difference": float(tflite_difference),
    "variables": sorted({type(variable._value).__name__ for variable in result.model.weights}),
}, sys.stdout)
"""


def test_two_devices_train_mirrored_with_two_replicas_into_a_working_model():
    environment = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    finished = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", TWO_CPU_REPLICAS], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    outcome = json.loads(finished.stdout.strip().splitlines()[-1])

    assert (outcome["devices"], outcome["replicas"], outcome["precision"]) == (["CPU:0", "CPU:1"], 2, "float32")
    assert outcome["val_accuracy"] == 1.0
    assert outcome["accuracy"] == 1.0
    assert outcome["same_as_training"] < 1e-4
    assert outcome["tflite_difference"] < 1e-4
    # Exported and served from plain variables, not the strategy's mirrored ones.
    assert outcome["variables"] == ["ResourceVariable"]


def test_one_cpu_trains_on_the_default_strategy_in_float32():
    placement = devices.training_placement()

    assert (placement.devices, placement.replicas, placement.mixed_precision) == (["CPU:0"], 1, False)


def test_a_gpu_trains_an_untrained_backbone_in_float32(monkeypatch):
    import tensorflow as tf

    class FakeGpu:
        name = "/job:localhost/replica:0/task:0/device:GPU:0"

    monkeypatch.setattr(tf.config, "list_logical_devices", lambda kind=None: [FakeGpu()] if kind == "GPU" else [])

    # Random features (around 1e-10) round to zero in float16: only pretrained backbones train mixed.
    assert devices.training_placement(mixed_precision_allowed=False).precision == "float32"
    assert devices.training_placement().precision == "mixed_float16"


def test_training_allows_mixed_precision_for_pretrained_backbones_only(monkeypatch):
    asked = []

    def placement(**options):
        asked.append(options["mixed_precision_allowed"])
        raise RuntimeError("placement chosen")

    monkeypatch.setattr(devices, "training_placement", placement)
    for weights in (None, "imagenet"):
        with pytest.raises(RuntimeError, match="placement chosen"):
            train(config(weights=weights), *square_records(2, seed=0), *square_records(2, seed=1), CLASS_NAMES)

    assert asked == [False, True]


def test_device_names_are_short():
    assert devices.device_name("/job:localhost/replica:0/task:0/device:GPU:1") == "GPU:1"


def test_mixed_precision_as_on_a_gpu_trains_and_gives_a_float32_model(monkeypatch, tmp_path):
    import keras
    import tensorflow as tf

    # A GPU's placement on this CPU: one device, layers computing in float16.
    monkeypatch.setattr(
        devices,
        "training_placement",
        lambda **_: devices.TrainingPlacement(["GPU:0"], True, tf.distribute.get_strategy()),
    )
    train_images, train_labels = square_records(6, seed=0)
    val_images, val_labels = square_records(3, seed=1)
    # ImageNet weights: a randomly initialised backbone's features are too small for float16.
    settings = config(epochs=3, backbone="efficientnet_lite0", weights="imagenet", image_size=32)
    cache = MemoryFeatureCache()

    result = train(settings, train_images, train_labels, val_images, val_labels, CLASS_NAMES, feature_cache=cache)

    # Cached apart from float32 features, which a CPU worker or a label-issue search would compute.
    assert {key.weights for key in cache._arrays} == {"imagenet@mixed_float16"}

    assert (result.devices, result.precision) == (["GPU:0"], "mixed_float16")
    assert keras.mixed_precision.global_policy().name == "float32", "the process's policy must be put back"
    assert {layer.dtype_policy.name for layer in result.model._flatten_layers()} == {"float32"}
    probabilities = predict_probabilities(result.model, val_images, image_size=32)
    assert (probabilities.argmax(axis=1) == val_labels).mean() == 1.0
    # The float32 copy answers as the float16 computation did, up to float16's rounding.
    np.testing.assert_allclose(probabilities, result.val_probabilities, atol=0.02)
    assert export_tflite(result.model, tmp_path / "model.tflite") < 1e-4


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_the_float32_copy_keeps_the_weights_and_drops_the_mixed_policy(policy):
    import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        inputs = keras.Input((4,))
        hidden = keras.layers.Dense(3, activation="relu")(inputs)
        mixed = keras.Model(inputs, keras.layers.Dense(2, dtype="float32")(hidden))
    finally:
        keras.mixed_precision.set_global_policy(previous)

    copy = devices.float32_copy(mixed)

    assert {layer.dtype_policy.name for layer in copy._flatten_layers()} == {"float32"}
    for kept, original in zip(copy.get_weights(), mixed.get_weights(), strict=True):
        np.testing.assert_array_equal(kept, original)
