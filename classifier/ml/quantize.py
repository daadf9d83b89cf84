"""Full-integer (int8) TFLite models: post-training quantization calibrated on the model's own images.

The int8 file keeps the float file's contract (one float32 RGB [0, 255] input, outputs "probabilities"
and "embeddings"): its first op quantizes the input and its last ones dequantize the outputs, so
`predictor.TFLitePredictor` runs either file the same way. On a CPU with int8 dot products (AVX512-VNNI,
ARM dotprod) XNNPACK runs it 2-3 times faster than the float file; bench/quantization.py measures it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import keras

# Post-training quantization only needs each activation's range: a couple of hundred images pin the
# ranges down, and more only make the conversion slower.
CALIBRATION_IMAGES = 200
# The softmax runs in float (see export_tflite_int8), so its probabilities sum to 1 as the float file's do.
PROBABILITY_SUM_TOLERANCE = 1e-3
# Ops left in float32: an int8 softmax holds each probability to the nearest 1/256, and with 1000 classes
# the many small ones that round to 0 lost up to 26% of the mass on EfficientNet-Lite0 (probabilities
# summing to 0.74). In float it costs nothing measurable: it runs once, on 1000 numbers.
FLOAT_OPS = ["SOFTMAX"]
# Keras runs the calibration images through the float model in batches of this many (memory stays small).
CHECK_BATCH = 32
PROBABILITIES_OUTPUT = "probabilities"


class QuantizationFailed(RuntimeError):
    """The model could not be converted to full int8, or the file it gave does not answer as it must."""


@dataclass(frozen=True)
class Int8Export:
    """What `export_tflite_int8` wrote and checked."""

    size_bytes: int
    calibration_images: int
    outputs: list[str]
    # Largest |sum of probabilities - 1| over the checked images.
    probability_sum_error: float
    # Share of the checked calibration images given the same top-1 class as the float Keras model.
    calibration_agreement: float
    # Compute ops left in float32 beyond FLOAT_OPS (an op with no int8 kernel stays float): [] when the
    # model is int8 throughout, as every backbone here is.
    float_ops: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def export_tflite_int8(
    model: keras.Model,
    path: str | os.PathLike[str],
    representative_images: Sequence[np.ndarray] | np.ndarray,
    *,
    max_images: int = CALIBRATION_IMAGES,
) -> Int8Export:
    """Convert to a full-integer TFLite model (int8 weights and activations, float32 I/O), check it, write it.

    `model` is the one `export.export_tflite` would convert (e.g. `export.serving_model(...)`); the
    representative images are RGB pixels already at the model's input size, (n, s, s, 3) or a sequence
    of (s, s, 3), uint8 or float in [0, 255]: the model's own training images, so the activation ranges
    are the ones it will see. Raises QuantizationFailed (and writes nothing) if the conversion fails or
    the file lacks an output of `model` or answers probabilities that do not sum to 1.
    """
    import tensorflow as tf

    images = _calibration_batch(model, representative_images, max_images)

    def representative_dataset() -> Iterator[list[np.ndarray]]:
        for image in images:
            yield [image[None]]

    with tempfile.TemporaryDirectory() as saved_model:
        model.export(saved_model, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset
        # Input and output stay float32 (the default): the quantize/dequantize ops cost far less than the
        # model, and the float file's contract holds. Selective quantization (TensorFlow's quantization
        # debugger, the documented way to keep chosen ops in float) leaves FLOAT_OPS out.
        try:
            debugger = tf.lite.experimental.QuantizationDebugger(
                converter=converter,
                debug_dataset=representative_dataset,
                debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=FLOAT_OPS),
            )
            content = debugger.get_nondebug_quantized_model()
        except Exception as error:  # the converter raises several unrelated types
            raise QuantizationFailed(f"the int8 conversion failed: {str(error).strip().splitlines()[0]}") from error
    # Every calibration image: the serving choice relies on this agreement, and a few dozen images of one
    # or two classes would say little.
    outputs, sum_error, agreement, float_ops = _check(model, content, images)
    Path(path).write_bytes(content)
    return Int8Export(
        size_bytes=len(content),
        calibration_images=len(images),
        outputs=outputs,
        probability_sum_error=round(sum_error, 4),
        calibration_agreement=round(agreement, 4),
        float_ops=float_ops,
    )


def _calibration_batch(model: keras.Model, images: Sequence[np.ndarray] | np.ndarray, max_images: int) -> np.ndarray:
    if max_images < 1:
        raise ValueError(f"max_images must be at least 1, got {max_images}")
    size = tuple(model.input_shape[1:])
    chosen = list(images[:max_images])
    if not chosen:
        raise QuantizationFailed("no representative images to calibrate the int8 model on")
    batch = np.stack([np.asarray(image, dtype=np.float32) for image in chosen])
    if batch.shape[1:] != size:
        raise ValueError(f"representative images must be {size}, got {batch.shape[1:]}")
    return batch


def _check(model: keras.Model, content: bytes, images: np.ndarray) -> tuple[list[str], float, float, list[str]]:
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_content=content).get_signature_runner()
    (input_name,) = runner.get_input_details()
    expected = _output_names(model)
    outputs = sorted(runner.get_output_details())
    if outputs != expected:
        raise QuantizationFailed(f"the int8 model answers {outputs}, not {expected}")
    name = PROBABILITIES_OUTPUT if PROBABILITIES_OUTPUT in outputs else outputs[0]
    served = np.concatenate([runner(**{input_name: image[None]})[name] for image in images])
    sum_error = float(np.abs(served.sum(axis=-1) - 1.0).max())
    if not sum_error <= PROBABILITY_SUM_TOLERANCE:
        raise QuantizationFailed(f"the int8 model's probabilities sum to 1 ± {sum_error:.3f}")
    answered = model.predict(images, batch_size=CHECK_BATCH, verbose=0)
    answered = answered[name] if isinstance(answered, dict) else np.asarray(answered)
    return outputs, sum_error, top1_agreement(served, np.asarray(answered)), _float_ops(content)


def _float_ops(content: bytes) -> list[str]:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    # Without XNNPACK, which would replace the ops by one DELEGATE node. LiteRT lists ops only through
    # this private method; it has been stable across TF and LiteRT releases.
    interpreter = Interpreter(
        model_content=content, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    tensors = {tensor["index"]: tensor for tensor in interpreter.get_tensor_details()}
    return sorted(
        {
            op["op_name"]
            for op in interpreter._get_ops_details()
            if op["op_name"] not in {"QUANTIZE", "DEQUANTIZE", *FLOAT_OPS}
            and any(index in tensors and tensors[index]["dtype"] == np.float32 for index in op["inputs"])
        }
    )


def _output_names(model: keras.Model) -> list[str]:
    # Keras names a signature's outputs by the dict keys of a dict-output model, else output_0, output_1…
    if isinstance(model.output, dict):
        return sorted(model.output)
    count = len(model.outputs)
    return [f"output_{index}" for index in range(count)]


def top1_agreement(first: np.ndarray, second: np.ndarray) -> float:
    """Share of images whose most probable class is the same in both (n, classes) arrays."""
    if first.shape != second.shape or not len(first):
        raise ValueError(f"expected two equal non-empty (n, classes) arrays, got {first.shape} and {second.shape}")
    return float(np.mean(first.argmax(axis=1) == second.argmax(axis=1)))


def float_int8_comparison(
    float_content: bytes, int8_content: bytes, pixels: np.ndarray, right: Sequence[set[int]]
) -> dict[str, Any]:
    """Both TFLite models on the same labelled images: top-1 accuracy of each and their top-1 agreement.

    `pixels` is (n, s, s, 3) uint8 model input; `right[i]` holds the classes that count as right for image
    i (empty: none does; it counts for agreement only). Accuracies are None when no image has a class.
    """
    from classifier.ml.predictor import TFLitePredictor

    answers = [TFLitePredictor(content).predict(pixels)[0] for content in (float_content, int8_content)]
    scored = [index for index, classes in enumerate(right) if classes]

    def accuracy(probabilities: np.ndarray) -> float | None:
        if not scored:
            return None
        return float(np.mean([int(probabilities[index].argmax()) in right[index] for index in scored]))

    return {
        "accuracy": accuracy(answers[0]),
        "accuracy_int8": accuracy(answers[1]),
        "agreement": top1_agreement(*answers),
        "test_images": len(scored),
    }
