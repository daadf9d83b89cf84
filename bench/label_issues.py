"""How well the label-issue queue finds wrong labels, and what accepting its suggestions is worth.

scikit-learn's handwritten digits (1,797 real 8×8 scans, 10 classes, offline): a fixed stratified 30%
is the clean test set; in the other 70% (the dataset a user curates) 5% of the labels are flipped to
another class at random, with a different seed per run. The queue is what the job computes: EfficientNet-
Lite0 ImageNet features at 96 px (the size a default training picks for pictures this small; cached
under ~/.cache/sightline-bench), 5-fold out-of-sample logistic regression, cleanlab's label quality.

It prints, median over the seeds:
- precision and recall of the top 5% of each ranking against the flipped set: random order (the
  baseline), the in-sample loss of a model fitted on every noisy label (the strongest cheap
  alternative: no cross-validation), and Sightline's out-of-sample ranking; and the whole queue's;
- the clean test accuracy of a head (the same logistic regression on the features) trained on the
  noisy labels, after accepting the queue's suggestions (every issue, or only the top 5%), and on the
  clean labels (the ceiling).

    .venv/bin/python bench/label_issues.py [--seeds 5] [--noise 0.05]
"""

import argparse
import hashlib
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from classifier.ml import label_issues  # noqa: E402
from classifier.ml.features import DirectoryFeatureCache, FeatureKey, compute_features  # noqa: E402
from classifier.ml.images import resize_array  # noqa: E402

CACHE = Path.home() / ".cache" / "sightline-bench"
BACKBONE, SIZE = "efficientnet_lite0", 96


def digits_features() -> tuple[np.ndarray, np.ndarray]:
    """(n, d) backbone features of every digit, from the cache after the first run, and the labels."""
    from sklearn.datasets import load_digits

    from classifier.ml import backbones

    data = load_digits()
    pixels = (data.images * (255 / 16)).round().astype(np.uint8)
    rgb = np.repeat(pixels[..., None], 3, axis=-1)
    keys = [
        FeatureKey(hashlib.sha256(image.tobytes()).hexdigest(), BACKBONE, SIZE, "imagenet") for image in rgb
    ]
    extractor = None

    def extract(batch: np.ndarray) -> np.ndarray:
        nonlocal extractor
        if extractor is None:
            extractor = backbones.build_feature_extractor(BACKBONE, input_size=SIZE)
        features: np.ndarray = extractor.predict_on_batch(batch)
        return features

    loaders = [lambda image=image: resize_array(image, SIZE) for image in rgb]
    features = compute_features(extract, loaders, 64, DirectoryFeatureCache(CACHE / "features"), keys)
    return features, data.target


def flip(labels: np.ndarray, share: float, seed: int, classes: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    flipped = rng.choice(len(labels), round(share * len(labels)), replace=False)
    noisy = labels.copy()
    noisy[flipped] = (labels[flipped] + rng.integers(1, classes, len(flipped))) % classes
    return noisy, flipped


def precision_recall(chosen: np.ndarray, flipped: np.ndarray) -> tuple[float, float]:
    hits = len(set(chosen.tolist()) & set(flipped.tolist()))
    return hits / max(1, len(chosen)), hits / max(1, len(flipped))


def accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray) -> float:
    model = label_issues.fit_classifier(train_x, train_y)
    return float((model.predict(test_x) == test_y).mean())


def one_run(
    features: np.ndarray, labels: np.ndarray, pool: np.ndarray, test: np.ndarray, share: float, seed: int
) -> dict[str, float]:
    classes = int(labels.max()) + 1
    x, clean = features[pool], labels[pool]
    noisy, flipped = flip(clean, share, seed, classes)
    top = len(flipped)
    results: dict[str, float] = {}

    order = np.random.default_rng(1000 + seed).permutation(len(noisy))[:top]
    results["random_p"], results["random_r"] = precision_recall(order, flipped)

    in_sample = label_issues.fit_classifier(x, noisy).predict_proba(x)
    order = np.argsort(label_issues.label_quality(noisy, in_sample), kind="stable")[:top]
    results["in_sample_p"], results["in_sample_r"] = precision_recall(order, flipped)

    started = time.monotonic()
    probabilities = label_issues.out_of_sample_probabilities(x, noisy, seed=seed)
    queue = label_issues.find_label_issues(noisy, probabilities)
    results["seconds"] = time.monotonic() - started
    order = np.argsort(label_issues.label_quality(noisy, probabilities), kind="stable")[:top]
    results["ours_p"], results["ours_r"] = precision_recall(order, flipped)
    rows = np.array([issue.index for issue in queue], dtype=np.int64)
    results["queue_size"] = len(rows)
    results["queue_p"], results["queue_r"] = precision_recall(rows, flipped)

    test_x, test_y = features[test], labels[test]
    results["acc_noisy"] = accuracy(x, noisy, test_x, test_y)
    accepted = noisy.copy()
    for issue in queue:
        accepted[issue.index] = issue.suggested
    results["acc_accept_all"] = accuracy(x, accepted, test_x, test_y)
    accepted_top = noisy.copy()
    for issue in queue[:top]:
        accepted_top[issue.index] = issue.suggested
    results["acc_accept_top"] = accuracy(x, accepted_top, test_x, test_y)
    results["acc_clean"] = accuracy(x, clean, test_x, test_y)
    results["labels_fixed"] = int((accepted == clean).sum() - (noisy == clean).sum())
    return results


def main() -> None:
    from sklearn.model_selection import train_test_split

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--noise", type=float, default=0.05)
    arguments = parser.parse_args()

    started = time.monotonic()
    features, labels = digits_features()
    print(f"Features: {len(features)} digits, {BACKBONE} {SIZE} px, {time.monotonic() - started:.0f} s")
    pool, test = train_test_split(np.arange(len(labels)), test_size=0.3, stratify=labels, random_state=0)
    with label_issues.single_threaded():
        runs = [one_run(features, labels, pool, test, arguments.noise, seed) for seed in range(arguments.seeds)]

    def median(name: str) -> float:
        return statistics.median(run[name] for run in runs)

    top = round(arguments.noise * len(pool))
    print(f"\nPool {len(pool)} images, {top} labels flipped ({arguments.noise:.0%}); "
          f"clean test set {len(test)} images;")
    print(f"median of {arguments.seeds} seeds.\n")
    print(f"{'Top 5% of the ranking':<44}{'precision':>10}{'recall':>8}")
    for name, label in (
        ("random", "Baseline: random order"),
        ("in_sample", "Alternative: in-sample loss (no k-fold)"),
        ("ours", "Sightline: out-of-sample + cleanlab"),
    ):
        print(f"{label:<44}{median(name + '_p'):>10.3f}{median(name + '_r'):>8.3f}")
    print(
        f"{'Sightline: whole queue (' + format(median('queue_size'), '.0f') + ' issues)':<44}"
        f"{median('queue_p'):>10.3f}{median('queue_r'):>8.3f}"
    )
    print(
        f"Ratios (precision@5%): Sightline/random {median('ours_p') / max(median('random_p'), 1e-9):.1f}×, "
        f"Sightline/in-sample {median('ours_p') / max(median('in_sample_p'), 1e-9):.2f}×"
    )
    print(f"\n{'Clean test accuracy of a head trained on…':<44}{'accuracy':>10}")
    for name, label in (
        ("acc_noisy", "the noisy labels (baseline)"),
        ("acc_accept_top", "noisy + the top 5% suggestions accepted"),
        ("acc_accept_all", "noisy + every queue suggestion accepted"),
        ("acc_clean", "the clean labels (ceiling)"),
    ):
        print(f"{label:<44}{median(name):>10.4f}")
    print(f"Labels fixed net by accepting the whole queue: {median('labels_fixed'):.0f} of {top}")
    total = time.monotonic() - started
    print(f"Queue computation (k-fold + cleanlab): {median('seconds'):.1f} s median; total {total:.0f} s")


if __name__ == "__main__":
    main()
