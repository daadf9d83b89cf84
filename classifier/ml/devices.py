"""Where a training runs and in what precision: the devices TensorFlow sees, a distribution strategy over
them, and mixed precision on GPUs.

GPUs when there are any, else the CPU. More than one device of that kind (several GPUs, or a CPU split
into logical devices): ``tf.distribute.MirroredStrategy``, one replica per device, each batch split among
them and the gradients summed. On GPUs layers compute in float16 with float32 variables
(``mixed_float16``); the logits and probabilities stay float32, as Keras recommends for a stable softmax
and loss. The trained model is then rebuilt in float32 outside the strategy (``float32_copy``): that is
what is exported and served, so a version answers the same whichever worker trained it.

TensorFlow is imported inside the functions only (DESIGN.md: the worker's parent process never imports it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

MIXED_PRECISION_POLICY = "mixed_float16"


@dataclass(frozen=True)
class TrainingPlacement:
    # As the job's report names them: "GPU:0", "GPU:1", or "CPU:0".
    devices: list[str]
    mixed_precision: bool
    strategy: Any  # tf.distribute.Strategy

    @property
    def replicas(self) -> int:
        return int(self.strategy.num_replicas_in_sync)

    @property
    def precision(self) -> str:
        return MIXED_PRECISION_POLICY if self.mixed_precision else "float32"

    @contextmanager
    def scope(self) -> Iterator[None]:
        """Models built and trained inside use the strategy and the precision; the process's global
        precision policy is put back after."""
        import keras

        previous = keras.mixed_precision.global_policy()
        if self.mixed_precision:
            keras.mixed_precision.set_global_policy(MIXED_PRECISION_POLICY)
        try:
            with self.strategy.scope():
                yield
        finally:
            keras.mixed_precision.set_global_policy(previous)


def training_placement(*, mixed_precision_allowed: bool = True) -> TrainingPlacement:
    """The devices a training uses here, and how (see the module's docstring); mixed precision on GPUs
    only when ``mixed_precision_allowed``. Logs the choice."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    chosen = gpus or tf.config.list_logical_devices("CPU")
    if len(chosen) > 1:
        strategy = tf.distribute.MirroredStrategy(devices=[device.name for device in chosen])
    else:
        # One device: TensorFlow's default placement already uses it; a strategy would only add overhead.
        strategy = tf.distribute.get_strategy()
    placement = TrainingPlacement(
        devices=[device_name(device.name) for device in chosen],
        mixed_precision=bool(gpus) and mixed_precision_allowed,
        strategy=strategy,
    )
    logger.info(
        "Training on %s: %d replica(s), %s precision.",
        ", ".join(placement.devices),
        placement.replicas,
        placement.precision,
    )
    return placement


def device_name(full_name: str) -> str:
    """``/job:localhost/replica:0/task:0/device:GPU:0`` → ``GPU:0``."""
    return full_name.rsplit("device:", 1)[-1]


def float32_copy(model: Any) -> Any:
    """``model`` rebuilt with float32 layers and plain variables (outside any strategy), holding its
    weights. Mixed precision keeps every variable in float32, so nothing is lost: only the computation
    changes back to float32, which TFLite export and int8 calibration expect."""
    import keras

    serialized = _float32_policies(keras.saving.serialize_keras_object(model))
    copy = keras.saving.deserialize_keras_object(serialized)
    copy.set_weights(model.get_weights())
    return copy


def _float32_policies(config: Any) -> Any:
    """The serialized model with every mixed dtype policy replaced by float32."""
    if isinstance(config, dict):
        if config.get("class_name") == "DTypePolicy" and str(config.get("config", {}).get("name", "")).startswith(
            "mixed_"
        ):
            return {**config, "config": {**config["config"], "name": "float32"}}
        return {key: _float32_policies(value) for key, value in config.items()}
    if isinstance(config, list):
        return [_float32_policies(value) for value in config]
    return config
