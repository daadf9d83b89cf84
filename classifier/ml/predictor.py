"""Predictions from a version's exported TFLite model with LiteRT, for the web tier.

numpy, Pillow and ai-edge-litert only: importing this module never imports TensorFlow or Keras, so a
web process stays small and starts fast. A LiteRT interpreter is not thread-safe, so each
`TFLitePredictor` serialises its calls with a lock, and a process keeps one per model version in a
`PredictorCache`.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from classifier.ml.images import STRETCH, load_array

# The serving model's output names (classifier.ml.export.PROBABILITIES_OUTPUT / EMBEDDINGS_OUTPUT,
# not imported: that module belongs to the TensorFlow side).
PROBABILITIES_OUTPUT = "probabilities"
EMBEDDINGS_OUTPUT = "embeddings"
# One image through these models gains little from more threads, while a web process runs several
# interpreters side by side; more would only make them compete for cores.
MAX_DEFAULT_THREADS = 4
# Overrides the default, e.g. 1 in the web tier (webapp/gunicorn.conf.py sets it): there one process per
# core already runs an interpreter each, so a second thread per call only competes with the other
# workers' calls (docs/serving.md has the figures). Read from the environment: no Django here.
THREADS_ENVIRONMENT_VARIABLE = "SIGHTLINE_INTERPRETER_THREADS"


def default_num_threads() -> int:
    configured = os.environ.get(THREADS_ENVIRONMENT_VARIABLE, "").strip()
    if configured:
        return max(1, int(configured))
    return cpu_thread_cap()


def cpu_thread_cap() -> int:
    """The machine's cores, at most MAX_DEFAULT_THREADS."""
    return max(1, min(os.cpu_count() or 1, MAX_DEFAULT_THREADS))


class TFLitePredictor:
    """One loaded TFLite classifier: uint8 RGB pixels in, probabilities (and embeddings) out.

    LiteRT applies its XNNPACK delegate on CPU by default. Tensors are allocated once, for one image;
    a batch runs one image at a time, which keeps memory fixed and needs no re-allocation.
    """

    def __init__(self, model_content: bytes, *, num_threads: int | None = None) -> None:
        # Kept (the interpreter holds on to this buffer anyway) so `replica` can load the same model again.
        self._model_content = model_content
        self._interpreter = Interpreter(model_content=model_content, num_threads=num_threads or default_num_threads())
        self._interpreter.allocate_tensors()
        inputs, outputs = _signature_details(self._interpreter)
        if len(inputs) != 1:
            raise ValueError(f"expected one image input, found {sorted(inputs)}")
        (image,) = inputs.values()
        # Versions exported before embeddings were added have one unnamed output: the probabilities.
        if len(outputs) == 1:
            probabilities, embeddings = next(iter(outputs.values())), None
        elif PROBABILITIES_OUTPUT in outputs:
            probabilities, embeddings = outputs[PROBABILITIES_OUTPUT], outputs.get(EMBEDDINGS_OUTPUT)
        else:
            raise ValueError(f"no {PROBABILITIES_OUTPUT!r} output among {sorted(outputs)}")
        for output in (probabilities, embeddings):
            # Sightline's int8 files dequantize their own outputs; integer outputs would need scaling here.
            if output is not None and np.dtype(output["dtype"]) != np.float32:
                raise ValueError(f"expected float32 outputs, found {np.dtype(output['dtype'])}")
        self._input_index = image["index"]
        self._to_input = _input_converter(image)
        self._probabilities_index = probabilities["index"]
        self._embeddings_index = None if embeddings is None else embeddings["index"]
        self.input_size = int(image["shape"][1])
        self.class_count = int(probabilities["shape"][-1])
        self._lock = threading.Lock()

    def replica(self, *, num_threads: int = 1) -> TFLitePredictor:
        """Another interpreter of the same model. Calls to one predictor take turns, so batch work that
        runs on several cores at once needs one each; several one-thread interpreters side by side
        outrun one multi-threaded interpreter on a batch (docs/batch-predictions.md has the figures)."""
        return TFLitePredictor(self._model_content, num_threads=num_threads)

    def predict(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Probabilities (n, classes) and embeddings (n, features), or None when the model has none.

        `pixels` is RGB uint8 of shape (s, s, 3) or (n, s, s, 3), already resized to `input_size`
        (see `prepare_image`). Safe to call from several threads: calls take turns.
        """
        batch = np.asarray(pixels)
        if batch.ndim == 3:
            batch = batch[None]
        size = self.input_size
        if batch.dtype != np.uint8 or batch.ndim != 4 or batch.shape[1:] != (size, size, 3) or not len(batch):
            raise ValueError(
                f"expected uint8 RGB pixels of shape (n, {size}, {size}, 3), got {batch.dtype} {batch.shape}"
            )
        probabilities, embeddings = [], []
        with self._lock:
            for image in batch:
                # The models take [0, 255] pixels (float32, or quantized integers); normalisation is inside.
                self._interpreter.set_tensor(self._input_index, self._to_input(image[None]))
                self._interpreter.invoke()
                # get_tensor copies, so the results survive the next image.
                probabilities.append(self._interpreter.get_tensor(self._probabilities_index)[0])
                if self._embeddings_index is not None:
                    embeddings.append(self._interpreter.get_tensor(self._embeddings_index)[0])
        return np.stack(probabilities), (np.stack(embeddings) if embeddings else None)


def _input_converter(detail: dict[str, Any]) -> Callable[[np.ndarray], np.ndarray]:
    """How uint8 pixels become the model's input tensor: float32 for the float and int8 files Sightline
    exports (their int8 model quantizes its own input), else the integer the tensor's scale and zero point
    give, for a file converted with integer input."""
    dtype = np.dtype(detail["dtype"])
    if dtype == np.float32:
        return lambda pixels: pixels.astype(np.float32)
    if dtype not in (np.uint8, np.int8):
        raise ValueError(f"unsupported image input type {dtype}")
    scale, zero_point = detail["quantization"]
    if not scale:
        raise ValueError(f"the {dtype} image input carries no quantization scale")
    if scale == 1.0 and zero_point == 0 and dtype == np.uint8:
        return lambda pixels: pixels
    limits = np.iinfo(dtype)

    def quantize(pixels: np.ndarray) -> np.ndarray:
        values = np.round(pixels.astype(np.float32) / scale + zero_point)
        quantized: np.ndarray = np.clip(values, limits.min, limits.max).astype(dtype)
        return quantized

    return quantize


def _signature_details(interpreter: Interpreter) -> tuple[dict[str, Any], dict[str, Any]]:
    """The input and output tensors of the model's one signature, by signature name.

    Names, not positions: LiteRT lists a model's outputs in no fixed order. The signature runner is
    dropped on return; while it lives, the interpreter refuses to run.
    """
    signatures = interpreter.get_signature_list()
    if len(signatures) != 1:
        raise ValueError(f"expected a TFLite model with one signature, found {len(signatures)}")
    runner = interpreter.get_signature_runner()
    return runner.get_input_details(), runner.get_output_details()


def prepare_image(data: bytes, size: int, resize: str = STRETCH) -> np.ndarray:
    """Decode image bytes to RGB uint8 (size, size, 3) in the version's resize mode (`images.RESIZE_MODES`):
    the default, `STRETCH`, is exactly how training saw its images.

    Raises `classifier.ml.images.InvalidImage` for data that is not a decodable image.
    """
    return load_array(data, size, resize)


class _Slot:
    """One cache entry: its lock makes concurrent first requests for a key load it once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.predictor: TFLitePredictor | None = None


class PredictorCache:
    """The process's loaded predictors, least recently used dropped beyond `max_entries`. Thread-safe.

    Keys name a model file, e.g. f"{version_id}:{tflite_file_name}": a re-exported file gets a new
    name, hence a new key, so a stale predictor is never served.
    """

    def __init__(self, max_entries: int = 8) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self.max_entries = max_entries
        self._slots: OrderedDict[str, _Slot] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, load: Callable[[], bytes]) -> TFLitePredictor:
        """The predictor for `key`, made from `load()` (the TFLite file's bytes) on first use."""
        with self._lock:
            slot = self._slots.get(key)
            if slot is None:
                slot = self._slots[key] = _Slot()
            self._slots.move_to_end(key)
            while len(self._slots) > self.max_entries:
                # A slot evicted while loading still serves the requests already waiting on it.
                self._slots.popitem(last=False)
        # Loading (storage read, interpreter set-up) happens outside the cache lock, so requests for
        # other versions are not held up by it.
        with slot.lock:
            if slot.predictor is None:
                try:
                    slot.predictor = TFLitePredictor(load())
                except BaseException:
                    # Leave no empty slot behind: the next request tries again.
                    with self._lock:
                        if self._slots.get(key) is slot:
                            del self._slots[key]
                    raise
            return slot.predictor

    def invalidate(self, key_prefix: str) -> None:
        """Drop every entry whose key starts with `key_prefix` (e.g. f"{version_id}:")."""
        with self._lock:
            for key in [key for key in self._slots if key.startswith(key_prefix)]:
                del self._slots[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._slots)


def top_k(probabilities: np.ndarray, class_names: Sequence[str], k: int) -> list[dict[str, Any]]:
    """The k most probable classes of one image, [{"label", "probability"}], most probable first.

    `probabilities` is one image's (classes,) row (a (1, classes) batch is accepted); ties keep the
    class order. k beyond the number of classes returns them all.
    """
    row = np.asarray(probabilities, dtype=np.float64)
    if row.ndim == 2 and len(row) == 1:
        row = row[0]
    if row.ndim != 1 or len(row) != len(class_names):
        raise ValueError(f"expected {len(class_names)} probabilities for one image, got shape {row.shape}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    order = np.argsort(-row, kind="stable")[:k]
    return [{"label": class_names[index], "probability": float(row[index])} for index in order]
