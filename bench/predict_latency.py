"""Sync prediction latency end to end over HTTP, against Keras and the interpreter, in one run.

Sets up a throw-away platform (SQLite, or PostgreSQL with --database-url; rate limits counted in the web
process's memory, or in Redis with --cache-url, as production counts them; the three ready-made ImageNet
EfficientNet-Lite models), starts the production web server (gunicorn with webapp/gunicorn.conf.py, one
worker process) and times, on one 224x224 JPEG, in two phases each interleaved request by request with the
floors: HTTP first, before TensorFlow is loaded into this process (its thread pools slowed the server's
answers measured beside them), then the Keras rows:
  keras-predict   the seed's baseline: decode, then the Keras model's model.predict() per request, which
                  Keras documents as meant for large batches (it builds a data pipeline on every call)
  keras-batch     decode, then model.predict_on_batch(): the competent way to call Keras per request
  keras-function  decode, then the model in a tf.function traced once for one image
  floor           the LiteRT interpreter call alone on already-decoded pixels, with the thread count the
                  web workers use (SIGHTLINE_INTERPRETER_THREADS; the cores, up to 4, by default there)
  floor-1t        the same on one thread, for reference
  http            POST /api/v1/model-versions/{lite0}/predict/ with token auth (a new connection each
                  time: the server keeps none alive): upload parsing, the checks, decode, the interpreter,
                  the stored image and history row, JSON; every answer's prediction_id is checked against
                  the database after the run
"Competent" is the faster of keras-batch and keras-function. Then it asks each of the three models once
and reads the web worker's resident memory.
Targets: http p50 <= floor p50 + 3 ms; http p50 <= 0.5 x competent Keras p50; web RSS with 3 models <= 300 MB.

    .venv/bin/python bench/predict_latency.py [--requests 200] [--var-dir DIR]
        [--database-url postgres://postgres@127.0.0.1:5432/sightline_bench] [--cache-url redis://127.0.0.1:6379/13]
"""

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.serving_platform import (  # noqa: E402
    ApiClient,
    free_port,
    multipart,
    percentile,
    rss_mb,
    setup_platform,
    start_web,
    test_jpeg,
    web_interpreter_threads,
    worker_pid,
)


def keras_calls(keras_model: "keras.Model", jpeg: bytes, size: int) -> dict[str, Callable[[], object]]:
    """The three ways to ask the Keras model about one JPEG, each decoding it as a request would."""
    import numpy as np
    import tensorflow as tf

    from classifier.ml.images import load_array

    def batch() -> np.ndarray:
        return load_array(jpeg, size)[np.newaxis].astype("float32")

    function = tf.function(
        lambda pixels: keras_model(pixels, training=False),
        input_signature=[tf.TensorSpec((1, size, size, 3), tf.float32)],
    )
    return {
        "keras-predict": lambda: keras_model.predict(batch(), verbose=0),
        "keras-batch": lambda: keras_model.predict_on_batch(batch()),
        "keras-function": lambda: function(batch()).numpy(),
    }


def timed(calls: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Each call's milliseconds over ``rounds`` rounds, the calls interleaved, after 5 warm-up rounds
    (interpreter loads, tracing, connections)."""
    for _ in range(5):
        for call in calls.values():
            call()
    timings: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            timings[name].append((time.perf_counter() - started) * 1000)
    return timings


def print_rows(timings: dict[str, list[float]]) -> None:
    print(f"{'path':<16}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
    for name, samples in timings.items():
        print(
            f"{name:<16}{percentile(samples, 0.5):>10.2f}{percentile(samples, 0.99):>10.2f}"
            f"{statistics.fmean(samples):>10.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--var-dir", help="reuse a platform folder (skips the model install next time)")
    parser.add_argument("--database-url", default="", help="PostgreSQL instead of SQLite (created when missing)")
    parser.add_argument("--cache-url", default="", help="Redis for the rate limits' counts, as production keeps them")
    arguments = parser.parse_args()
    var_dir = arguments.var_dir or tempfile.mkdtemp(prefix="sightline-bench-")
    token, versions, env = setup_platform(var_dir, arguments.database_url, arguments.cache_url)
    lite0 = versions[0]

    from django.core.files.storage import default_storage

    from classifier.ml.export import load_keras
    from classifier.ml.images import load_array
    from classifier.ml.predictor import TFLitePredictor
    from classifier.models import Prediction
    from classifier.services.storage import stored_file_name

    jpeg = test_jpeg()
    body, content_type = multipart(jpeg)
    web_threads = web_interpreter_threads()
    with default_storage.open(stored_file_name(lite0.tflite_file), "rb") as file:
        model_bytes = file.read()
    floors = {"floor": TFLitePredictor(model_bytes, num_threads=web_threads)}
    if web_threads != 1:
        floors["floor-1t"] = TFLitePredictor(model_bytes, num_threads=1)
    pixels = load_array(jpeg, lite0.image_size)

    def floor_call(predictor: TFLitePredictor) -> Callable[[], object]:
        return lambda: predictor.predict(pixels)

    port = free_port()
    server = start_web(env, port)
    try:
        client = ApiClient(port, token)
        answers: list[dict[str, Any]] = []
        floor_calls = {name: floor_call(predictor) for name, predictor in floors.items()}
        # Two phases, each interleaved with the floors: HTTP before TensorFlow is loaded into this process,
        # then Keras. Once loaded, TensorFlow's thread pools stay in the process and slowed the server's
        # answers measured beside them by ~4 ms (11.7 ms alone, 16 ms after Keras calls, same server).
        http_timings = timed(
            {**floor_calls, "http": lambda: answers.append(client.predict(lite0.id, body, content_type))},
            arguments.requests,
        )
        print(f"lite0 answers: {[p['label'] for p in answers[-1]['predictions'][:3]]}")
        print(
            f"database: {env.get('DATABASE_URL', 'SQLite')}; rate limit counts: "
            f"{env.get('SIGHTLINE_CACHE_URL') or 'process memory'}; web interpreter threads: {web_threads}"
        )
        print(f"TensorFlow loaded in this process during phase 1: {'tensorflow' in sys.modules}")
        keras_model = load_keras(default_storage.path(stored_file_name(lite0.keras_file)))
        keras_timings = timed({**keras_calls(keras_model, jpeg, lite0.image_size), **floor_calls}, arguments.requests)
        answers = answers[5:]  # the warm-up's

        print(f"\n{arguments.requests} requests each, EfficientNet-Lite0 at {lite0.image_size}px (float)")
        print("phase 1, HTTP interleaved with the floors:")
        print_rows(http_timings)
        print("phase 2, Keras interleaved with the floors:")
        print_rows(keras_timings)
        p50 = {name: percentile(samples, 0.5) for name, samples in {**keras_timings, **http_timings}.items()}
        drift = percentile(keras_timings["floor"], 0.5) / p50["floor"]
        competent_name = min(("keras-batch", "keras-function"), key=p50.__getitem__)
        competent, floor, http = p50[competent_name], p50["floor"], p50["http"]
        print(f"\nfloor p50 in phase 2 / phase 1 = {drift:.2f} (the machine's drift between the phases)")
        print(
            f"competent Keras = {competent_name}; keras-predict / competent = {p50['keras-predict'] / competent:.2f}"
        )
        print(f"http p50 / competent p50 = {http / competent:.3f}   (target <= 0.5)")
        print(f"http p50 / floor p50     = {http / floor:.2f}")
        print(f"http p50 - floor p50     = {http - floor:.2f} ms (target <= 3 ms)")
        for name in floors.keys() - {"floor"}:
            print(f"http p50 - {name} p50 = {http - p50[name]:.2f} ms")
        stored = Prediction.objects.filter(id__in=[answer["prediction_id"] for answer in answers]).exclude(image="")
        print(f"history rows stored with their image: {stored.count()} of {len(answers)} answers")

        for version in versions[1:]:
            client.predict(version.id, body, content_type)
        pid = worker_pid(server.pid)
        maps = Path(f"/proc/{pid}/maps").read_text()
        print(f"\nweb worker RSS with {len(versions)} ImageNet models loaded: {rss_mb(pid):.0f} MB (target <= 300 MB)")
        print(f"TensorFlow loaded in the web worker: {'tensorflow' in maps}")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
