"""Fixtures for the prediction tests: tiny real TFLite models (tests/models.py), an unknown-image
detector, ready versions serving them from storage (``make_ready_version``; ``dataset``, the user's
"Colours" dataset, ``version``, its active version, and ``public_version``, the public ImageNet-1k
dataset's, for the tests that need no other), and a local HTTP server the URL fetcher is allowed
to reach. Also ``run_import``, ``run_url_import`` and ``fast`` (short fetch timeouts), shared by the import
tests.

The models are built with Keras and exported once per session (TensorFlow is fine in tests; the web
code under test only ever loads the TFLite files, through LiteRT).
"""

import http.server
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from classifier.models import Dataset, ModelVersion
from classifier.services.imports import dataset_import_start
from classifier.services.url_imports import url_list_import_start
from tests.classifier.url_import_support import LIMIT, url_list
from tests.factories import DatasetFactory, UserFactory
from tests.models import MODEL_SIZE, OTHER_CLASSES, PRIMARY_CLASSES, colour_model_tflite
from training_jobs.models import Job


@pytest.fixture(scope="session")
def colour_models(tmp_path_factory) -> dict[tuple[str, ...], bytes]:
    """TFLite bytes per class list: PRIMARY_CLASSES and OTHER_CLASSES."""
    return {
        names: colour_model_tflite(names, tmp_path_factory.mktemp("colour-model"))
        for names in (PRIMARY_CLASSES, OTHER_CLASSES)
    }


@pytest.fixture(scope="session")
def colour_int8_model(tmp_path_factory) -> bytes:
    """The PRIMARY_CLASSES colour model quantized to int8 (``export_tflite_int8``)."""
    return colour_model_tflite(PRIMARY_CLASSES, tmp_path_factory.mktemp("colour-int8"), int8=True)


@pytest.fixture
def make_quantized_version(make_ready_version, colour_int8_model) -> Callable[..., ModelVersion]:
    """``make(dataset, quantization=None, **fields)``: a ready PRIMARY_CLASSES version with both TFLite
    files, whose int8 model lost half a point of test accuracy unless ``quantization`` says otherwise."""

    def make(dataset: Dataset, quantization: dict | None = None, **fields) -> ModelVersion:
        version = make_ready_version(dataset, **fields)
        folder = version.tflite_file.name.rsplit("/", 1)[0]
        version.tflite_int8_file = default_storage.save(f"{folder}/model_int8.tflite", ContentFile(colour_int8_model))
        version.quantization = (
            {"accuracy": 0.9, "accuracy_int8": 0.895, "test_images": 200} if quantization is None else quantization
        )
        version.save()
        return version

    return make


@pytest.fixture(scope="session")
def colour_detector() -> bytes:
    """An unknown-image detector fitted on synthetic embeddings scattered around pure red, green and
    blue: images of those colours are known; a grey one (equal parts of each) is far from all of them."""
    from classifier.ml.unknown import fit_unknown_detector

    rng = np.random.default_rng(0)

    def near_primaries(count: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.repeat(np.arange(3), count)
        embeddings = np.eye(3)[labels] + rng.normal(0.0, 0.05, (len(labels), 3))
        return embeddings.astype("float32"), labels

    train, labels = near_primaries(30)
    validation, _ = near_primaries(10)
    return fit_unknown_detector(train, labels, validation, false_unknown_rate=0.05).to_bytes()


@pytest.fixture
def make_ready_version(colour_models, colour_detector) -> Callable[..., ModelVersion]:
    """``make(dataset, number=1, classes=PRIMARY_CLASSES, detector=True, **fields)``: a ready version
    serving a colour model (and the detector) from storage."""

    def make(
        dataset: Dataset,
        number: int = 1,
        *,
        classes: tuple[str, ...] = PRIMARY_CLASSES,
        detector: bool = True,
        **fields,
    ) -> ModelVersion:
        # A fresh folder per version, as training makes: the serving cache keys interpreters by version
        # id and file name, and test databases reuse ids.
        folder = f"models/{dataset.id}/v{number}-{uuid.uuid4().hex}"
        values = {
            "backbone": "tiny",
            "image_size": MODEL_SIZE,
            "status": ModelVersion.Status.READY,
            "class_names": list(classes),
            "tflite_file": default_storage.save(f"{folder}/model.tflite", ContentFile(colour_models[classes])),
            "unknown_file": (
                default_storage.save(f"{folder}/unknown.npz", ContentFile(colour_detector)) if detector else ""
            ),
            "created_by": dataset.owner,
            **fields,
        }
        return ModelVersion.objects.create(dataset=dataset, number=number, **values)

    return make


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Seconds to wait before answering, and between body bytes when trickling.
    delay: float = 0.0
    trickle: float = 0.0
    send_length: bool = True


class LocalServer:
    """A tiny HTTP server on 127.0.0.1 in a thread; tests set ``routes[path]``."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[dict] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                server.requests.append({"path": self.path, "host": self.headers.get("Host")})
                route = server.routes.get(self.path, Route(status=404, body=b"not here"))
                time.sleep(route.delay)
                try:
                    self.send_response(route.status)
                    for name, value in route.headers.items():
                        self.send_header(name, value)
                    if route.send_length:
                        self.send_header("Content-Length", str(len(route.body)))
                    self.end_headers()
                    if route.trickle:
                        for index in range(len(route.body)):
                            self.wfile.write(route.body[index : index + 1])
                            self.wfile.flush()
                            time.sleep(route.trickle)
                    else:
                        self.wfile.write(route.body)
                except OSError:
                    # The client gave up (timed out, refused the body): nothing left to do.
                    pass

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.host = f"127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"http://{self.host}{path}"


@pytest.fixture
def dataset(user) -> Dataset:
    return DatasetFactory(owner=user, name="Colours")


@pytest.fixture
def version(dataset, make_ready_version) -> ModelVersion:
    return make_ready_version(dataset, is_active=True)


@pytest.fixture
def public_version(make_ready_version) -> ModelVersion:
    """The ready-made public dataset's active version, usable by everyone."""
    public = DatasetFactory(owner=UserFactory(username="sightline"), name="ImageNet-1k", is_public=True)
    return make_ready_version(public, is_active=True)


@pytest.fixture
def image_server(settings):
    """A local server the fetcher may reach: only its host:port is on the allow-list, so every other
    loopback or private address stays refused."""
    server = LocalServer()
    # A short poll interval: shutting the server down waits for the next poll.
    thread = threading.Thread(target=server.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    settings.SIGHTLINE_URL_FETCH_ALLOWED_HOSTS = [server.host]
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture
def run_import(user, django_capture_on_commit_callbacks):
    """Start an import as ``user`` and let its task run (eagerly) once the request commits."""

    def run(dataset, archive: bytes, labels: bytes | None = None) -> Job:
        labels_file = SimpleUploadedFile("labels.csv", labels) if labels is not None else None
        with django_capture_on_commit_callbacks(execute=True):
            job = dataset_import_start(
                dataset=dataset,
                requested_by=user,
                archive=SimpleUploadedFile("birds.zip", archive),
                labels=labels_file,
            )
        job.refresh_from_db()
        return job

    return run


@pytest.fixture
def fast(settings):
    """Short timeouts and pauses, so the slow and flaky routes cost a fraction of a second."""
    settings.SIGHTLINE_URL_FETCH_TIMEOUT_SECONDS = 0.3
    settings.SIGHTLINE_URL_FETCH_DEADLINE_SECONDS = 1.0
    settings.SIGHTLINE_URL_IMPORT_RETRIES = 1
    settings.SIGHTLINE_URL_IMPORT_RETRY_BACKOFF_SECONDS = 0.01
    settings.SIGHTLINE_MAX_IMAGE_BYTES = LIMIT
    return settings


@pytest.fixture
def run_url_import(user, django_capture_on_commit_callbacks):
    def run(dataset, lines: list[str]) -> Job:
        with django_capture_on_commit_callbacks(execute=True):
            job = url_list_import_start(dataset=dataset, requested_by=user, urls=url_list(lines))
        job.refresh_from_db()
        return job

    return run


@pytest.fixture
def drf_answers(monkeypatch) -> list[int]:
    """How many predict-now requests the DRF view answered (the lean path, classifier.api.predict_fast_path,
    answers the others)."""
    from classifier.api import prediction_views

    calls: list[int] = []
    original = prediction_views._predict_now

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(prediction_views, "_predict_now", counted)
    return calls
