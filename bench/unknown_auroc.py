"""How well a version tells "none of my classes" apart: AUROC of the unknown score, in-distribution
test images vs images from elsewhere, beside the max-softmax baseline, in one run.

A faces vs non-faces model (scikit-image's LFW subset, EfficientNet-Lite0 ImageNet features, the same
`training.train` a version uses) is scored on its held-out test images and on photos it never saw:
scikit-image's sample photos, random crops of them, and crops shrunk to 25×25 greyscale like LFW.

    .venv/bin/python bench/unknown_auroc.py [--seeds 5]
"""

import argparse
import os
import statistics
import sys
from pathlib import Path
from typing import TYPE_CHECKING

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from bench.train_speed import CLASS_NAMES, load_dataset  # noqa: E402
from classifier.ml.config import TrainingConfig  # noqa: E402
from classifier.ml.features import MemoryFeatureCache  # noqa: E402
from classifier.ml.images import resize_array  # noqa: E402
from classifier.ml.unknown import auroc, fit_unknown_detector  # noqa: E402

if TYPE_CHECKING:
    import keras

PHOTOS = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "motorcycle_left",
    "cat",
    "camera",
    "coins",
    "moon",
    "page",
    "text",
    "clock",
    "horse",
    "grass",
    "gravel",
    "brick",
)


def elsewhere_images(seed: int) -> dict[str, list[np.ndarray]]:
    from PIL import Image
    from skimage import data

    photos = []
    for name in PHOTOS:
        loader = getattr(data, name, None)
        if loader is None:
            continue
        image = np.asarray(loader())
        if image.dtype != np.uint8:
            image = (image * 255 / max(1, image.max())).astype(np.uint8)
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=-1)
        photos.append(image[..., :3])
    rng = np.random.default_rng(seed)
    crops = []
    for photo in photos:
        for _ in range(3):
            side = int(rng.integers(min(photo.shape[:2]) // 3, min(photo.shape[:2]) + 1))
            top, left = (int(rng.integers(0, photo.shape[i] - side + 1)) for i in (0, 1))
            crops.append(photo[top : top + side, left : left + side])
    # Closest to the training data: 25x25 greyscale like the LFW images.
    near = [
        np.repeat(np.asarray(Image.fromarray(crop).convert("L").resize((25, 25)))[..., None], 3, axis=-1)
        for crop in crops
    ]
    return {"photos": photos, "crops": crops, "near-domain": near}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    arguments = parser.parse_args()

    from classifier.ml.backbones import build_feature_extractor
    from classifier.ml.training import train

    config = TrainingConfig(backbone="efficientnet_lite0", epochs=20, weights="imagenet", augment=False)
    size = config.image_size or 224
    extractor = build_feature_extractor(config.backbone, input_size=size, weights="imagenet")
    cache = MemoryFeatureCache()
    results: dict[str, dict[str, list[float]]] = {}
    for seed in range(arguments.seeds):
        data = load_dataset(seed)
        result = train(config, *data["train"], *data["val"], CLASS_NAMES, feature_cache=cache)
        detector = fit_unknown_detector(result.train_embeddings, result.train_labels, result.val_embeddings)
        head = result.model.get_layer("head")

        def embed_and_softmax(
            images: list[np.ndarray], head: "keras.layers.Layer" = head
        ) -> tuple[np.ndarray, np.ndarray]:
            batch = np.stack([resize_array(image, size) for image in images]).astype(np.float32)
            embeddings = np.asarray(extractor.predict(batch, verbose=0))
            logits = np.asarray(head.predict(embeddings, verbose=0))
            exp = np.exp(logits - logits.max(axis=1, keepdims=True))
            return embeddings, exp / exp.sum(axis=1, keepdims=True)

        test_embeddings, test_probabilities = embed_and_softmax([record.load() for record in data["test"][0]])
        in_knn = detector.score(test_embeddings)
        in_msp = 1 - test_probabilities.max(axis=1)
        flagged = float(detector.is_unknown(test_embeddings).mean())
        for name, images in elsewhere_images(seed).items():
            out_embeddings, out_probabilities = embed_and_softmax(images)
            row = results.setdefault(name, {"knn": [], "msp": [], "caught": [], "flagged": []})
            row["knn"].append(auroc(in_knn, detector.score(out_embeddings)))
            row["msp"].append(auroc(in_msp, 1 - out_probabilities.max(axis=1)))
            row["caught"].append(float(detector.is_unknown(out_embeddings).mean()))
            row["flagged"].append(flagged)

    print(f"\nAUROC, in-distribution LFW test images vs images from elsewhere, median of {arguments.seeds} splits")
    print(f"{'elsewhere':<13}{'k-NN (ours)':>12}{'max softmax':>13}{'caught':>9}{'test flagged':>14}")
    for name, row in results.items():
        print(
            f"{name:<13}{statistics.median(row['knn']):>12.3f}{statistics.median(row['msp']):>13.3f}"
            f"{statistics.median(row['caught']):>9.1%}{statistics.median(row['flagged']):>14.1%}"
        )


if __name__ == "__main__":
    main()
