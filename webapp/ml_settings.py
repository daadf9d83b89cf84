"""Datasets, training and serving: split fractions, the near-duplicate threshold, pretrained weights, when
the int8 model serves, and the bounded local caches workers and web processes keep."""

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from webapp.base_settings import VAR_DIR
from webapp.env import env_bool, env_float, env_int, env_str

# Split fractions for new datasets; each dataset keeps its own copy and seed.
SIGHTLINE_DEFAULT_VAL_FRACTION = env_float("SIGHTLINE_DEFAULT_VAL_FRACTION", 0.1)
SIGHTLINE_DEFAULT_TEST_FRACTION = env_float("SIGHTLINE_DEFAULT_TEST_FRACTION", 0.1)
# Two pictures are near-duplicates when their 192-bit perceptual hashes differ in at most this many bits
# (classifier.ml.near_duplicates); bench/near_duplicates.py measured 57: recall 0.97 on resized,
# recompressed, cropped and turned copies, no false pair among 4,371 pairs of distinct photos. Lower is stricter.
SIGHTLINE_NEAR_DUPLICATE_DISTANCE = env_int("SIGHTLINE_NEAR_DUPLICATE_DISTANCE", 57)
# Images stored before hashing existed are hashed lazily: this many per look at the check (a page or API
# call; each is a file read and decode), all of them on a fix or a split reassignment, or with
# `manage.py near_duplicates_hash`.
SIGHTLINE_NEAR_DUPLICATE_FILL_PER_REQUEST = env_int("SIGHTLINE_NEAR_DUPLICATE_FILL_PER_REQUEST", 500)
# Pretrained keras.applications weights are looked up here first (offline installs place them here).
SIGHTLINE_WEIGHTS_DIR = Path(env_str("SIGHTLINE_WEIGHTS_DIR", str(VAR_DIR / "weights")))
# Off (an offline install): a backbone whose weights are not on disk is refused when a training is
# submitted. On: such a training is accepted, and Keras downloads the weights on the worker.
SIGHTLINE_ALLOW_WEIGHT_DOWNLOADS = env_bool("SIGHTLINE_ALLOW_WEIGHT_DOWNLOADS", False)
# A version serves its int8 model when that loses at most this much test accuracy (0.01 = 1 point) against
# its float model on the same test images; otherwise, or with no test images, the float model serves.
SIGHTLINE_INT8_MAX_ACCURACY_DROP = env_float("SIGHTLINE_INT8_MAX_ACCURACY_DROP", 0.01)
# ... and when the two models give the same top-1 answer on at least this share of the training images
# compared while calibrating (a tiny test split alone cannot show a poor int8 model).
SIGHTLINE_INT8_MIN_AGREEMENT = env_float("SIGHTLINE_INT8_MIN_AGREEMENT", 0.98)
# Backbone features per image, reused across epochs and versions: a worker-local cache of at most
# SIGHTLINE_FEATURE_CACHE_MAX_BYTES (0: no limit), least recently used files evicted first. Deleting it at
# any time loses nothing: missing features are computed again from the images in storage.
SIGHTLINE_FEATURE_CACHE_DIR = Path(env_str("SIGHTLINE_FEATURE_CACHE_DIR", str(VAR_DIR / "feature-cache")))
SIGHTLINE_FEATURE_CACHE_MAX_BYTES = env_int("SIGHTLINE_FEATURE_CACHE_MAX_BYTES", 10 * 1024**3)
# Loaded TFLite interpreters (and unknown-image detectors) each web or inference process keeps, least
# recently used dropped first; each is read again from storage when needed. At least 1: unlike the
# quotas, 0 cannot mean "no limit" here, since every served version would stay in memory.
SIGHTLINE_INTERPRETER_CACHE_SIZE = env_int("SIGHTLINE_INTERPRETER_CACHE_SIZE", 8)
if SIGHTLINE_INTERPRETER_CACHE_SIZE < 1:
    raise ImproperlyConfigured(
        f"SIGHTLINE_INTERPRETER_CACHE_SIZE is {SIGHTLINE_INTERPRETER_CACHE_SIZE}; it must be at least 1."
    )
# A training's own feature files while it runs (memory-mapped, so memory stays flat); deleted after it.
SIGHTLINE_SCRATCH_DIR = Path(env_str("SIGHTLINE_SCRATCH_DIR", str(VAR_DIR / "scratch")))
SIGHTLINE_SCRATCH_DIR.mkdir(parents=True, exist_ok=True)
