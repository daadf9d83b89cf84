"""What keeping a prediction's image costs the client waiting for the answer, on local files and in an S3
bucket, in one run.

A sync prediction stores the uploaded image for the history before it answers. This times the service
that does it (``prediction_create``: the check and decode, the interpreter, the stored image, the history
row) in this process, on EfficientNet-Lite0 (224 px, float) and one 224x224 JPEG, four ways:
  before   the same services one after another, as Sightline did before: the image stored with the
           storage API's save() (which looks for a free name first: on S3 a HEAD request, then the PUT),
           then the interpreter, then the row
  now      prediction_create as it is: the image stored under its UUID name without the free-name
           search, on a writer thread while the interpreter runs, the row written once it is stored
each on local files (FileSystemStorage) and on S3 (S3Storage over HTTP with boto3, signature v4). The S3
server is moto's standalone server on 127.0.0.1 (tests/storage_s3.py), reached two ways: directly, a
LOOPBACK server whose work runs on the same cores as the interpreter, and through bench/delay_proxy.py,
which holds every chunk --s3-delay-ms each way, as a bucket on another host a network away would (an
S3 request in the same cloud region takes tens of milliseconds). Also the bare interpreter call (the
floor) and the storage calls alone. The ways take turns in blocks of --block requests (switching storage
builds a new client; each block's first 3 are warm-up, not counted).

    .venv/bin/python bench/predict_storage.py [--requests 200] [--block 20] [--s3-delay-ms 5] [--var-dir DIR]
        [--database-url postgres://postgres@127.0.0.1:5432/sightline_bench]
"""

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.delay_proxy import delay_proxy_start  # noqa: E402
from bench.serving_platform import free_port, percentile, setup_platform, test_jpeg  # noqa: E402

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from classifier.models import ModelVersion

WARM_UP = 3


def before(owner: "User", version: "ModelVersion", jpeg: bytes) -> object:
    """The sync prediction as it was: every step waits for the one before it."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from classifier.services.imaging import image_check_with_pixels
    from classifier.services.predictions import answer_fields, prediction_image_name, prediction_row_write
    from classifier.services.serving import version_input, version_predict

    size, resize = version_input(version=version, quantized=None)
    checked, pixels = image_check_with_pixels(content=jpeg, filename="cat.jpg", size=size, resize=resize)
    name = default_storage.save(prediction_image_name(owner_id=owner.pk, checked=checked), ContentFile(jpeg))
    result = version_predict(version=version, pixels=pixels, top_k=5, quantized=None)
    return prediction_row_write(
        owner=owner, image=name, answered_now=True, model_version=version, **answer_fields(result)
    )


def now(owner: "User", version: "ModelVersion", jpeg: bytes) -> object:
    from classifier.services.predictions import prediction_create

    return prediction_create(owner=owner, model_version=version, image_bytes=jpeg, filename="cat.jpg")


def bench_name() -> str:
    return f"bench/{uuid.uuid4().hex}.jpg"


def version_files_copy(version: "ModelVersion", storages: dict[str, Any]) -> None:
    """The version's stored files (its models, class list...) into the storage ``storages`` names."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.db.models import FileField
    from django.test import override_settings

    files = {}
    for field in version._meta.fields:
        name = getattr(version, field.name).name if isinstance(field, FileField) else ""
        if name:
            with default_storage.open(name, "rb") as stored:
                files[name] = stored.read()
    with override_settings(STORAGES=storages):
        for name, content in files.items():
            default_storage.save(name, ContentFile(content))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="counted requests per way")
    parser.add_argument("--block", type=int, default=20)
    parser.add_argument("--s3-delay-ms", type=float, default=5, help="added each way by the proxy (0: no proxy)")
    parser.add_argument("--var-dir", help="reuse a platform folder (skips the model install next time)")
    parser.add_argument("--database-url", default="", help="PostgreSQL instead of SQLite (created when missing)")
    arguments = parser.parse_args()
    var_dir = arguments.var_dir or tempfile.mkdtemp(prefix="sightline-bench-")
    _token, versions, env = setup_platform(var_dir, arguments.database_url)
    lite0 = versions[0]

    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.test import override_settings

    from classifier.ml.images import load_array
    from classifier.ml.predictor import TFLitePredictor
    from classifier.models import Prediction
    from classifier.services.storage import stored_file_name
    from tests.storage_s3 import S3Server, moto_server_start, moto_server_stop
    from webapp.storage_writes import stored_file_put

    owner = User.objects.get(username="bench")
    jpeg = test_jpeg()
    with default_storage.open(stored_file_name(lite0.tflite_file), "rb") as file:
        floor = TFLitePredictor(file.read())
    pixels = load_array(jpeg, lite0.image_size)
    work = Path(tempfile.mkdtemp(prefix="sightline-storage-bench-"))
    process, server = moto_server_start(work / "moto.log")
    proxy = None
    try:
        bucket = server.bucket_create()
        places = {"local": {**settings.STORAGES}, "s3": {**settings.STORAGES, "default": server.storage_entry(bucket)}}
        version_files_copy(lite0, places["s3"])
        if arguments.s3_delay_ms > 0:
            port = free_port()
            proxy = delay_proxy_start(
                port=port, target_port=int(server.endpoint_url.rsplit(":", 1)[1]), delay_ms=arguments.s3_delay_ms
            )
            away = S3Server(endpoint_url=f"http://127.0.0.1:{port}")
            places[f"s3+{arguments.s3_delay_ms:g}ms"] = {**settings.STORAGES, "default": away.storage_entry(bucket)}
        ways: dict[str, tuple[str, Callable[[], object]]] = {}
        for place in places:
            ways[f"{place} before"] = (place, lambda: before(owner, lite0, jpeg))
            ways[f"{place} now"] = (place, lambda: now(owner, lite0, jpeg))
            ways[f"{place} save()"] = (place, lambda: default_storage.save(bench_name(), ContentFile(jpeg)))
            ways[f"{place} put"] = (place, lambda: stored_file_put(name=bench_name(), content=jpeg))
        ways["interpreter"] = ("local", lambda: floor.predict(pixels))
        timings: dict[str, list[float]] = {name: [] for name in ways}
        stored_before = Prediction.objects.count()
        while min(len(samples) for samples in timings.values()) < arguments.requests:
            for name, (place, call) in ways.items():
                with override_settings(STORAGES=places[place]):
                    for index in range(arguments.block + WARM_UP):
                        started = time.perf_counter()
                        call()
                        if index >= WARM_UP:
                            timings[name].append((time.perf_counter() - started) * 1000)
        stored = Prediction.objects.count() - stored_before
    finally:
        if proxy is not None:
            proxy.kill()
            proxy.wait()
        moto_server_stop(process)

    print(f"\n{arguments.requests}+ requests a way in blocks of {arguments.block}, EfficientNet-Lite0 224 px float")
    print(
        f"database: {env.get('DATABASE_URL', 'SQLite')}; s3: moto on loopback; "
        f"s3+{arguments.s3_delay_ms:g}ms: the same through a proxy adding that much each way"
    )
    print(f"{'way':<20}{'p50 ms':>10}{'p95 ms':>10}{'mean ms':>10}")
    p50 = {}
    for name, samples in timings.items():
        p50[name] = percentile(samples, 0.5)
        print(f"{name:<20}{p50[name]:>10.2f}{percentile(samples, 0.95):>10.2f}{statistics.fmean(samples):>10.2f}")
    for place in places:
        print(
            f"{place}: now - before = {p50[f'{place} now'] - p50[f'{place} before']:+.2f} ms "
            f"({p50[f'{place} now'] / p50[f'{place} before']:.2f}x); now - interpreter = "
            f"{p50[f'{place} now'] - p50['interpreter']:+.2f} ms"
        )
    for place in list(places)[1:]:
        added = p50[f"{place} now"] - p50["local now"]
        print(f"{place} now - local now = {added:+.2f} ms (what the bucket still adds)")
    print(f"history rows written: {stored}")


if __name__ == "__main__":
    main()
