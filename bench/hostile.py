"""Hostile requests: a thousand-odd crafted requests against a real gunicorn, and what they leave behind.

Sets up a throw-away platform (see predict_latency.py: SQLite in a temp folder, the ImageNet models),
two users each with a dataset of a few images, a version, a prediction and a finished batch job, and
records every row and stored file. Then sends, over HTTP: decompression bombs, truncated and bit-flipped
images, hostile ZIPs (zip slip, absolute and symlink members, bombs, nested, odd compression), bad
labels and URL CSVs, bodies declared beyond the limits (headers only), malformed multipart, JSON
garbage, huge and bad query values, forged headers, the other user's ids, top_k/threshold extremes,
unsafe URLs, and a burst of failed logins that must be throttled. The jobs those requests queued run
in-process afterwards, as a worker would run them (training is not run).
Targets: 0 server errors, 0 tracebacks (responses, gunicorn's log, job errors), nothing pre-existing
lost or changed, every response under 1 MB, every other user's object answered 404.
    .venv/bin/python bench/hostile.py [--var-dir DIR] [--seed 0]
"""

import argparse
import collections
import hashlib
import http.client as http_client
import io
import json
import os
import random
import socket
import stat
import struct
import sys
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.predict_latency import free_port, setup_platform, start_web  # noqa: E402

MAX_RESPONSE_BYTES = 1024 * 1024
TRACEBACK_MARKERS = (b"Traceback (most recent call last)", b"Exception Value:", b"Request Method:")
# Lower than the defaults so a few requests reach each limit without building gigabytes.
LIMITS = {
    "SIGHTLINE_MAX_ARCHIVE_MEMBERS": "2000",
    "SIGHTLINE_MAX_ARCHIVE_BYTES": str(64 * 1024 * 1024),
    "SIGHTLINE_MAX_REQUEST_BYTES": str(32 * 1024 * 1024),
    "SIGHTLINE_MAX_IMAGE_BYTES": str(4 * 1024 * 1024),
    "SIGHTLINE_MAX_IMAGE_PIXELS": "20000000",
    # Measured handling, not rate limits: only the token (login) throttle keeps its default of 10/min.
    "SIGHTLINE_THROTTLE_PREDICTIONS": "1000000/min",
    "SIGHTLINE_THROTTLE_SIGNUP": "1000000/hour",
    "SIGHTLINE_QUOTA_ACTIVE_JOBS": "100000",
    "SIGHTLINE_QUOTA_ACTIVE_GPU_JOBS": "100000",
    "SIGHTLINE_URL_FETCH_DNS_TIMEOUT_SECONDS": "1",
    "SIGHTLINE_URL_FETCH_TIMEOUT_SECONDS": "1",
    "SIGHTLINE_URL_FETCH_DEADLINE_SECONDS": "3",
}


# --- Hostile files -------------------------------------------------------------------------------------


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int, rows: bytes, colour_type: int = 2) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(rows))
        + png_chunk(b"IEND", b"")
    )


def encoded(image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def good_images(rng: random.Random) -> dict[str, bytes]:
    from PIL import Image

    noise = Image.frombytes("RGB", (96, 80), rng.randbytes(96 * 80 * 3))
    return {
        "photo.jpg": encoded(noise, "JPEG", quality=90),
        "photo.png": encoded(noise, "PNG"),
        "photo.gif": encoded(noise.convert("P"), "GIF"),
        "photo.bmp": encoded(noise, "BMP"),
        "photo.tif": encoded(noise, "TIFF"),
        "photo.webp": encoded(noise, "WEBP"),
        "progressive.jpg": encoded(noise, "JPEG", progressive=True),
    }


def bomb_images() -> dict[str, bytes]:
    """Files whose headers declare far more pixels than they carry."""
    from PIL import Image

    jpeg = bytearray(encoded(Image.new("RGB", (16, 16)), "JPEG"))
    sof = jpeg.index(b"\xff\xc0")
    jpeg[sof + 5 : sof + 9] = struct.pack(">HH", 65000, 65000)
    gif = bytearray(encoded(Image.new("P", (16, 16)), "GIF"))
    gif[6:10] = struct.pack("<HH", 65535, 65535)
    bmp = bytearray(encoded(Image.new("RGB", (16, 16)), "BMP"))
    bmp[18:26] = struct.pack("<ii", 60000, 60000)
    small_bmp = bytearray(bmp)
    small_bmp[18:26] = struct.pack("<ii", 3000, 3000)
    tiff = bytearray(encoded(Image.new("RGB", (16, 16)), "TIFF"))
    return {
        "bomb-100k.png": png_declaring(100_000, 100_000, b"\0" * 64),
        "bomb-8k.png": png_declaring(8000, 8000, b"\0" * 64),
        "tall-64-bytes.png": png_declaring(1, 100_000, b"\0" * 64, colour_type=0),
        "wide-short.png": png_declaring(4000, 3000, b"\0" * 4001),
        "zeros-bomb.png": png_declaring(4400, 4400, b"\0" * (4400 * 3 + 1) * 4400),
        "huge-sof.jpg": bytes(jpeg),
        "huge-screen.gif": bytes(gif),
        "huge.bmp": bytes(bmp),
        "short.bmp": bytes(small_bmp),
        "huge-tiff.tif": bytes(tiff).replace(
            struct.pack("<HHIH", 256, 3, 1, 16), struct.pack("<HHIH", 256, 3, 1, 60000), 1
        ),
        "ztxt-bomb.png": png_declaring(8, 8, b"\0" * 200)[:-12]
        + png_chunk(b"zTXt", b"k\0\0" + zlib.compress(b"A" * 50_000_000))
        + png_chunk(b"IEND", b""),
    }


def truncated_images(goods: dict[str, bytes]) -> dict[str, bytes]:
    cuts = {}
    for name, content in goods.items():
        for fraction in (0.1, 0.5, 0.9, 0.99):
            cuts[f"cut{int(fraction * 100)}-{name}"] = content[: int(len(content) * fraction)]
        cuts[f"cut-eoi-{name}"] = content[: len(content) // 2] + (
            b"\xff\xd9" if name.endswith(".jpg") else content[-12:]
        )
    return cuts


def flipped_images(goods: dict[str, bytes], rng: random.Random, count: int) -> dict[str, bytes]:
    flips = {}
    names = list(goods)
    for index in range(count):
        name = names[index % len(names)]
        content = bytearray(goods[name])
        for _ in range(rng.choice([1, 2, 8, 64])):
            position = rng.randrange(len(content))
            content[position] ^= 1 << rng.randrange(8)
        flips[f"flip{index}-{name}"] = bytes(content)
    return flips


def not_images() -> dict[str, bytes]:
    return {
        "notes.jpg": b"just text pretending\n",
        "page.png": b"<html><script>alert(1)</script></html>",
        "vector.svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        "doc.pdf": b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF",
        "program.exe": b"MZ" + b"\0" * 200,
        "empty.jpg": b"",
        "eps.jpg": b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n",
        "ppm.jpg": b"P6\n4 4\n255\n" + b"\0" * 48,
        "nul\0name.png": b"\x89PNG\r\n\x1a\n",
        "big-random.jpg": b"\xff\xd8\xff\xe0" + random.Random(1).randbytes(5 * 1024 * 1024),
    }


# --- Hostile archives ----------------------------------------------------------------------------------


def zip_of(
    members: list[tuple[str, bytes]], *, compression=zipfile.ZIP_DEFLATED, symlinks: tuple[str, ...] = ()
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, content in members:
            info = zipfile.ZipInfo(name)
            info.compress_type = compression
            if name in symlinks:
                info.create_system = 3
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, content)
    return buffer.getvalue()


def lying_zip(jpeg: bytes) -> bytes:
    """A member whose header claims a few bytes but that inflates to 50 MB."""
    content = zip_of([("cats/liar.jpg", b"\0" * 50_000_000)])
    # Patch the sizes in the central directory and the local header to 100 bytes.
    patched = bytearray(content)
    central = patched.rindex(b"PK\x01\x02")
    patched[central + 24 : central + 28] = struct.pack("<I", 100)
    patched[30 - 8 : 30 - 4] = struct.pack("<I", 100)
    return bytes(patched)


def hostile_archives(goods: dict[str, bytes], bombs: dict[str, bytes], rng: random.Random) -> dict[str, bytes]:
    jpeg = goods["photo.jpg"]
    png = goods["photo.png"]
    inner = zip_of([("cats/a.jpg", jpeg), ("dogs/b.png", png)])
    encrypted = bytearray(zip_of([("cats/secret.jpg", jpeg)], compression=zipfile.ZIP_STORED))
    encrypted[6] |= 1  # the "encrypted" flag, local header
    central = encrypted.rindex(b"PK\x01\x02")
    encrypted[central + 8] |= 1
    bad_crc = bytearray(zip_of([("cats/a.jpg", jpeg)], compression=zipfile.ZIP_STORED))
    bad_crc[14] ^= 0xFF
    bad_crc[bad_crc.rindex(b"PK\x01\x02") + 16] ^= 0xFF
    good_zip = zip_of([("cats/a.jpg", jpeg), ("dogs/b.png", png)])
    archives = {
        "slip.zip": zip_of([("../../evil.jpg", jpeg), ("cats/a.jpg", jpeg), ("dogs/b.png", png)]),
        "dotdot-only.zip": zip_of([("../a.jpg", jpeg), ("../b.png", png)]),
        "absolute.zip": zip_of([("/etc/cats/a.jpg", jpeg), ("cats/a.jpg", jpeg), ("dogs/b.png", png)]),
        "backslash.zip": zip_of([("..\\..\\evil.jpg", jpeg), ("C:/Windows/cats/x.jpg", jpeg), ("dogs/b.png", png)]),
        "symlink.zip": zip_of(
            [("cats/link.jpg", b"/etc/passwd"), ("cats/a.jpg", jpeg), ("dogs/b.png", png)], symlinks=("cats/link.jpg",)
        ),
        "ratio-bomb.zip": zip_of([("cats/zeros.jpg", b"\0" * 30_000_000), ("dogs/b.png", png)]),
        "lying-sizes.zip": lying_zip(jpeg),
        "nested.zip": zip_of([("cats/inner.zip", inner), ("cats/inner.jpg", inner), ("dogs/b.png", png)]),
        "too-many.zip": zip_of([(f"cats/{index}.jpg", b"") for index in range(2500)], compression=zipfile.ZIP_STORED),
        "bzip2.zip": zip_of([("cats/a.jpg", jpeg), ("dogs/b.png", png)], compression=zipfile.ZIP_BZIP2),
        "lzma.zip": zip_of([("cats/a.jpg", jpeg), ("dogs/b.png", png)], compression=zipfile.ZIP_LZMA),
        "encrypted.zip": bytes(encrypted),
        "bad-crc.zip": bytes(bad_crc),
        "empty.zip": zip_of([]),
        "folders-only.zip": zip_of([("cats/", b""), ("dogs/", b"")]),
        "system-only.zip": zip_of([("__MACOSX/._a.jpg", b"x"), (".DS_Store", b"x"), ("Thumbs.db", b"x")]),
        "unicode.zip": zip_of([("chats/été 🐱.jpg", jpeg), ("chiens/\u202egnp.png", png), ("dogs/b.png", png)]),
        "long-name.zip": zip_of([("cats/" + "a" * 60_000 + ".jpg", jpeg), ("dogs/b.png", png)]),
        "duplicates.zip": zip_of([("cats/a.jpg", jpeg), ("cats/a.jpg", png), ("dogs/b.png", png)]),
        "bombs-inside.zip": zip_of(
            [(f"cats/{name}", content) for name, content in bombs.items() if len(content) < 2_000_000]
        ),
        "truncated.zip": good_zip[: len(good_zip) // 2],
        "truncated-end.zip": good_zip[:-10],
        "not-a-zip.zip": b"PK\x03\x04 but nothing after",
        "png-named-zip.zip": png,
        "deep.zip": zip_of([("/".join(["d"] * 500) + "/a.jpg", jpeg), ("dogs/b.png", png)]),
        # Names up to 64 KB: a report listing 100 of them must still be a small response.
        "long-names.zip": zip_of([(f"cats/{index}-" + "n" * 50_000 + ".jpg", b"x") for index in range(120)]),
    }
    flipped = bytearray(good_zip)
    for _ in range(8):
        position = rng.randrange(len(flipped))
        flipped[position] ^= 1 << rng.randrange(8)
    archives["bit-flipped.zip"] = bytes(flipped)
    return archives


def hostile_labels(names: list[str]) -> dict[str, bytes]:
    rows = "filename,label\n" + "".join(f"{name},cats\n" for name in names)
    return {
        "utf16.csv": rows.encode("utf-16"),
        "latin1.csv": ("filename,label\ncats/a.jpg,caf\xe9\n").encode("latin-1"),
        "binary.csv": bytes(range(256)) * 20,
        "nul.csv": b"filename,label\ncats/a.jpg,ca\0ts\n",
        "no-header.csv": b"cats/a.jpg,cats\n",
        "wrong-columns.csv": b"name,class,extra\ncats/a.jpg,cats,1\n",
        "many-columns.csv": b",".join([b"c"] * 10_000) + b"\n",
        "huge-field.csv": b"filename,label\ncats/a.jpg," + b"L" * 2_000_000 + b"\n",
        "many-rows.csv": b"filename,label\n" + b"".join(b"x%d.jpg,c%d\n" % (i, i % 500) for i in range(300_000)),
        "injection.csv": b'filename,label\ncats/a.jpg,"=HYPERLINK(""http://evil"")"\ndogs/b.png,@SUM(1)\n',
        "traversal.csv": b"filename,label\n../../etc/passwd,cats\n/abs/a.jpg,dogs\n",
        "bom.csv": b"\xef\xbb\xbf" + rows.encode(),
        "unterminated.csv": b'filename,label\n"cats/a.jpg,cats\n',
        "empty.csv": b"",
        "header-only.csv": b"filename,label\n",
        "crlf-mixed.csv": b"filename,label\r\ncats/a.jpg,cats\rdogs/b.png,dogs\n",
        "label-too-long.csv": b"filename,label\ncats/a.jpg," + b"x" * 5000 + b"\n",
        "blank-labels.csv": b"filename,label\ncats/a.jpg,\ndogs/b.png,   \n",
    }


UNSAFE_URLS = [
    "http://127.0.0.1/a.jpg",
    "http://127.0.0.1:8000/api/v1/datasets/",
    "http://localhost/a.jpg",
    "http://[::1]/a.jpg",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/a.jpg",
    "http://192.168.1.1:22/",
    "http://0x7f000001/a.jpg",
    "http://2130706433/a.jpg",
    "http://0177.0.0.1/a.jpg",
    "http://0/a.jpg",
    "http://[::ffff:127.0.0.1]/a.jpg",
    "http://user:pass@127.0.0.1/a.jpg",
    "https://127.0.0.1:6379/",
    "http://example.com:25/a.jpg",
    "file:///etc/passwd",
    "ftp://127.0.0.1/a.jpg",
    "gopher://127.0.0.1:6379/_FLUSHALL",
    "data:image/png;base64,iVBORw0KGgo=",
    "javascript:alert(1)",
    "http://",
    "http:///a.jpg",
    "not a url",
    "",
    "http://" + "a" * 5000 + ".com/a.jpg",
    "http://127.0.0.1/" + "a" * 100_000,
    "http://[::1",
    "http://%00/",
    "http://127.0.0.1:99999/",
    "http://metadata.google.internal/computeMetadata/v1/",
]


# --- HTTP ----------------------------------------------------------------------------------------------


def multipart(fields: list[tuple[str, str, bytes, str]], boundary: str = "hostile-boundary") -> tuple[bytes, str]:
    """``fields``: (name, filename or "", content, content type or "")."""
    parts = []
    for name, filename, content, content_type in fields:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        header = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        if content_type:
            header += f"Content-Type: {content_type}\r\n"
        parts.append(header.encode("utf-8", "surrogateescape") + b"\r\n" + content + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@dataclass
class Outcome:
    category: str
    label: str
    status: int
    size: int
    seconds: float
    traceback: bool = False
    note: str = ""
    download: bool = False


@dataclass
class Tally:
    outcomes: list[Outcome] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    # Pre-existing rows an accepted request was entitled to change (alice renaming her own dataset).
    accepted_changes: set = field(default_factory=set)


class Client:
    def __init__(self, port: int, tally: Tally) -> None:
        self.port = port
        self.tally = tally

    def send(
        self,
        category: str,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: bytes = b"",
        content_type: str = "",
        headers: dict[str, str] | None = None,
        expect: tuple[int, ...] = (),
        label: str = "",
    ) -> Outcome:
        sent = {"Host": "127.0.0.1"}
        if token:
            sent["Authorization"] = f"Token {token}"
        if content_type:
            sent["Content-Type"] = content_type
        sent.update(headers or {})
        started = time.perf_counter()
        connection = http_client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            connection.request(
                method, path, body=body if body or method not in ("GET", "DELETE") else None, headers=sent
            )
            response = connection.getresponse()
            content = response.read()
            status = response.status
            download = "attachment" in (response.getheader("Content-Disposition") or "")
        except (OSError, http_client.HTTPException) as error:
            content, status, download = f"{type(error).__name__}: {error}".encode(), 0, False
        finally:
            connection.close()
        outcome = self._record(category, label or f"{method} {path[:80]}", status, content, started, expect)
        outcome.download = download
        return outcome

    def raw(
        self, category: str, label: str, request: bytes, *, expect: tuple[int, ...] = (), wait: float = 30
    ) -> Outcome:
        """Bytes straight onto the socket: a declared body that never comes, broken framing."""
        started = time.perf_counter()
        content = b""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=wait) as connection:
                connection.sendall(request)
                while True:
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    content += chunk
                    head, _, rest = content.partition(b"\r\n\r\n")
                    length = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
                    if length and len(rest) >= int(length[0].split(b":")[1]):
                        break
        except TimeoutError:
            return self._record(category, label, -1, content, started, expect, note="no answer (timeout)")
        except OSError as error:
            if not content:
                return self._record(category, label, 0, str(error).encode(), started, expect, note="connection closed")
        status_line = content.split(b"\r\n", 1)[0].split(b" ")
        status = int(status_line[1]) if len(status_line) > 1 and status_line[1].isdigit() else 0
        body = content.partition(b"\r\n\r\n")[2]
        return self._record(category, label, status, body, started, expect)

    def _record(self, category, label, status, content, started, expect, note="") -> Outcome:
        outcome = Outcome(
            category=category,
            label=label,
            status=status,
            size=len(content),
            seconds=time.perf_counter() - started,
            traceback=any(marker in content for marker in TRACEBACK_MARKERS),
            note=note,
        )
        self.tally.outcomes.append(outcome)
        if expect and status not in expect:
            self.tally.unexpected.append(f"{category}: {label} → {status} (expected {expect}) {content[:200]!r}")
        return outcome


# --- The platform --------------------------------------------------------------------------------------


@dataclass
class Actor:
    name: str
    token: str
    user_id: int
    dataset: int
    images: list[int]
    classes: list[int]
    version: int
    prediction: int
    job: int


def actor_make(name: str, imagenet_version, rng: random.Random) -> Actor:
    from django.contrib.auth.models import User
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from PIL import Image
    from rest_framework.authtoken.models import Token

    from classifier.models import DatasetImage, ModelVersion
    from classifier.services.datasets import dataset_create
    from classifier.services.images import image_add

    user, _ = User.objects.get_or_create(username=name)
    user.set_password("correct horse battery staple")
    user.save()
    token, _ = Token.objects.get_or_create(user=user)
    dataset = dataset_create(owner=user, name=f"{name}'s pets")
    images = []
    for index in range(6):
        label = ("cats", "dogs")[index % 2]
        pixels = Image.frombytes("RGB", (64, 64), rng.randbytes(64 * 64 * 3))
        image = image_add(
            dataset=dataset,
            content=encoded(pixels, "JPEG"),
            filename=f"{label}-{index}.jpg",
            label_name=label,
            origin=DatasetImage.Origin.UPLOAD,
        )
        images.append(image.id)
    # A ready version serving the ImageNet model's files, copied into the user's own folder.
    version = ModelVersion.objects.get(pk=imagenet_version.pk)
    version.pk = None
    version.id = None
    version.dataset = dataset
    version.number = 1
    version.is_active = True
    version.created_by = user
    for file_field in ("keras_file", "tflite_file", "tflite_int8_file", "savedmodel_file", "unknown_file"):
        stored = getattr(version, file_field)
        if stored:
            with default_storage.open(stored.name, "rb") as source:
                copy = default_storage.save(
                    f"models/{dataset.id}/v1/{Path(stored.name).name}", ContentFile(source.read())
                )
            setattr(version, file_field, copy)
    version.save()
    classes = list(dataset.classes.values_list("id", flat=True))
    return Actor(name, token.key, user.id, dataset.id, images, classes, version.id, 0, 0)


def owned_counts(actor: Actor) -> dict:
    """What the other user has: nothing alice sends may add to it or take from it."""
    from classifier.models import DatasetImage, LabelClass, ModelVersion, Prediction
    from training_jobs.models import Job

    return {
        "images": DatasetImage.objects.filter(dataset__owner_id=actor.user_id).count(),
        "classes": LabelClass.objects.filter(dataset__owner_id=actor.user_id).count(),
        "versions": ModelVersion.objects.filter(dataset__owner_id=actor.user_id).count(),
        "predictions": Prediction.objects.filter(owner_id=actor.user_id).count(),
        "jobs": Job.objects.filter(requested_by_id=actor.user_id).count(),
    }


def run_queued_jobs(*, jobs_before: set, predictions_before: set) -> dict:
    """Run what the requests queued, as the workers would: imports, batches, augmentations, predictions."""
    from classifier.models import Prediction
    from classifier.services.predictions import prediction_run
    from training_jobs.models import Job
    from training_jobs.tasks import run_job

    ran = collections.Counter()
    queued = Job.objects.filter(status=Job.Status.QUEUED).exclude(id__in=jobs_before)
    for job in queued.exclude(kind__in=[Job.Kind.TRAIN, Job.Kind.EXPORT]).order_by("id"):
        try:
            run_job(job.id)
            ran["jobs"] += 1
        except Exception as error:  # noqa: BLE001 - counted: a job body must never raise out of run_job
            ran["jobs raised"] += 1
            print(f"  job {job.id} ({job.kind}) raised {type(error).__name__}: {error}")
    queued_predictions = Prediction.objects.filter(status=Prediction.Status.QUEUED).exclude(id__in=predictions_before)
    for prediction_id in queued_predictions.values_list("id", flat=True):
        try:
            prediction_run(prediction_id=prediction_id)
            ran["predictions"] += 1
        except Exception as error:  # noqa: BLE001 - as above
            ran["predictions raised"] += 1
            print(f"  prediction {prediction_id} raised {type(error).__name__}: {error}")
    return dict(ran)


# --- Fingerprint ---------------------------------------------------------------------------------------

# Rows that change by design: sessions, login attempts.
SKIPPED_TABLES = {"django_session", "axes_accessattempt", "axes_accesslog", "axes_accessfailurelog"}


def fingerprint(media_root: Path) -> tuple[dict, dict]:
    from django.apps import apps

    rows = {}
    for model in apps.get_models():
        if model._meta.db_table in SKIPPED_TABLES or model._meta.proxy:
            continue
        for values in model.objects.values():
            rows[(model._meta.label, values.get("id", values.get(model._meta.pk.attname)))] = values
    files = {}
    for path in media_root.rglob("*"):
        if path.is_file():
            files[str(path.relative_to(media_root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return rows, files


def fingerprint_compare(before: tuple[dict, dict], after: tuple[dict, dict]) -> list[str]:
    problems = []
    for key, digest in before[0].items():
        if key not in after[0]:
            problems.append(f"row lost: {key}")
        elif after[0][key] != digest:
            now = after[0][key]
            changed = {name: (value, now.get(name)) for name, value in digest.items() if now.get(name) != value}
            problems.append(f"row changed: {key} {str(changed)[:300]}")
    for name, digest in before[1].items():
        if name not in after[1]:
            problems.append(f"file lost: {name}")
        elif after[1][name] != digest:
            problems.append(f"file changed: {name}")
    return problems


# --- The requests --------------------------------------------------------------------------------------


def own_rows_changed_by(path: str, alice: Actor) -> set:
    """The rows of alice's that an accepted request to ``path`` may change."""
    rows = {
        f"/api/v1/datasets/{alice.dataset}/": ("classifier.Dataset", alice.dataset),
        f"/api/v1/images/{alice.images[0]}/": ("classifier.DatasetImage", alice.images[0]),
        f"/api/v1/predictions/{alice.prediction}/feedback/": ("classifier.Prediction", alice.prediction),
        f"/api/v1/predictions/{alice.prediction}/add-to-dataset/": ("classifier.Prediction", alice.prediction),
    }
    return {rows[path]} if path in rows else set()


def send_all(client: Client, alice: Actor, bob: Actor, public_version: int, rng: random.Random) -> None:
    goods = good_images(rng)
    bombs = bomb_images()
    images = {
        **{f"bomb/{k}": v for k, v in bombs.items()},
        **{f"truncated/{k}": v for k, v in truncated_images(goods).items()},
        **{f"flipped/{k}": v for k, v in flipped_images(goods, rng, 90).items()},
        **{f"not-image/{k}": v for k, v in not_images().items()},
    }
    token = alice.token
    image_targets = [
        ("image", f"/api/v1/model-versions/{alice.version}/predict/"),
        ("image", f"/api/v1/model-versions/{public_version}/predict/"),
        ("file", f"/api/v1/datasets/{alice.dataset}/images/"),
    ]
    ok4 = tuple(range(200, 300)) + (400, 413, 415)
    for name, content in images.items():
        category, filename = name.split("/", 1)
        for field_name, path in image_targets:
            body, content_type = multipart([(field_name, filename, content, "image/jpeg")])
            client.send(
                f"image:{category}",
                "POST",
                path,
                token=token,
                body=body,
                content_type=content_type,
                expect=ok4,
                label=f"{path} {filename}",
            )
    # The same through the ensemble, async and dataset-predict forms, fewer of them.
    for name, content in list(images.items())[::4]:
        category, filename = name.split("/", 1)
        body, content_type = multipart(
            [
                ("image", filename, content, "image/png"),
                ("model_versions", "", f"{alice.version},{public_version}".encode(), ""),
            ]
        )
        client.send(
            f"image:{category}",
            "POST",
            "/api/v1/ensembles/predict/",
            token=token,
            body=body,
            content_type=content_type,
            expect=ok4,
        )
        body, content_type = multipart(
            [("image", filename, content, "image/png"), ("model_version", "", str(alice.version).encode(), "")]
        )
        client.send(
            f"image:{category}",
            "POST",
            "/api/v1/predictions/",
            token=token,
            body=body,
            content_type=content_type,
            expect=ok4,
        )
        body, content_type = multipart([("image", filename, content, "")])
        client.send(
            f"image:{category}",
            "POST",
            f"/api/v1/datasets/{alice.dataset}/predict/",
            token=token,
            body=body,
            content_type=content_type,
            expect=ok4,
        )

    # Archives: imports (folders and CSV) and batch predictions.
    archives = hostile_archives(goods, bombs, rng)
    for name, content in archives.items():
        for path in (
            f"/api/v1/datasets/{alice.dataset}/imports/",
            f"/api/v1/model-versions/{alice.version}/batch-predictions/",
        ):
            body, content_type = multipart([("archive", name, content, "application/zip")])
            client.send(
                "archive",
                "POST",
                path,
                token=token,
                body=body,
                content_type=content_type,
                expect=ok4,
                label=f"{path} {name}",
            )
    plain_zip = archives["slip.zip"]
    for name, content in hostile_labels(["cats/a.jpg", "dogs/b.png"]).items():
        body, content_type = multipart(
            [("archive", "a.zip", plain_zip, "application/zip"), ("labels", name, content, "text/csv")]
        )
        client.send(
            "labels-csv",
            "POST",
            f"/api/v1/datasets/{alice.dataset}/imports/",
            token=token,
            body=body,
            content_type=content_type,
            expect=ok4,
            label=name,
        )
        # A URL list is a CSV too.
        body, content_type = multipart([("urls", name, content, "text/csv")])
        client.send(
            "urls-csv",
            "POST",
            f"/api/v1/datasets/{alice.dataset}/imports/",
            token=token,
            body=body,
            content_type=content_type,
            expect=ok4,
            label=name,
        )
    url_rows = "url,label\n" + "".join(f'"{url.replace(chr(34), "")}",cats\n' for url in UNSAFE_URLS[:25])
    body, content_type = multipart([("urls", "urls.csv", url_rows.encode(), "text/csv")])
    client.send(
        "urls-csv",
        "POST",
        f"/api/v1/datasets/{alice.dataset}/imports/",
        token=token,
        body=body,
        content_type=content_type,
        expect=ok4,
        label="unsafe urls",
    )

    # Unsafe URLs for URL predictions.
    for url in UNSAFE_URLS:
        for path in (f"/api/v1/model-versions/{alice.version}/predict/", f"/api/v1/datasets/{alice.dataset}/predict/"):
            client.send(
                "url-predict",
                "POST",
                path,
                token=token,
                body=json.dumps({"url": url}).encode(),
                content_type="application/json",
                expect=(400,),
                label=f"{path} {url[:60]}",
            )
        client.send(
            "url-predict",
            "POST",
            "/api/v1/ensembles/predict/",
            token=token,
            body=json.dumps({"url": url, "model_versions": [alice.version, public_version]}).encode(),
            content_type="application/json",
            expect=(400,),
            label=url[:60],
        )
        client.send(
            "url-predict",
            "POST",
            "/api/v1/predictions/",
            token=token,
            body=json.dumps({"url": url, "model_version": alice.version}).encode(),
            content_type="application/json",
            expect=(202, 400),
            label=url[:60],
        )

    # Bodies declared beyond the limits, sent without the body.
    for path, declared in [
        (f"/api/v1/model-versions/{alice.version}/predict/", 40 * 1024 * 1024),
        (f"/api/v1/datasets/{alice.dataset}/images/", 10**12),
        (f"/api/v1/datasets/{alice.dataset}/imports/", 100 * 1024 * 1024),
        (f"/api/v1/model-versions/{alice.version}/batch-predictions/", 3 * 1024**3),
        ("/api/v1/datasets/", 33 * 1024 * 1024),
        ("/api/v1/auth/token/", 10**15),
        (f"/datasets/{alice.dataset}/imports/", 100 * 1024 * 1024),
        ("/login/", 10**9),
    ]:
        request = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {token}\r\n"
            f"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {declared}\r\n\r\n"
        ).encode()
        client.raw("oversized", f"{path} declares {declared:,}", request, expect=(413, 403, 400), wait=20)
    for length in ("-1", "abc", "1e9", "99999999999999999999999999", "10, 20"):
        request = (
            f"POST /api/v1/datasets/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n{{}}"
        ).encode()
        client.raw("framing", f"Content-Length: {length}", request, wait=20)
    framing = [
        b"POST /api/v1/datasets/ HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Length: 4\r\n\r\n0\r\n\r\n",
        b"POST /api/v1/datasets/ HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFF\r\nabc",
        b"GET /api/v1/datasets/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",
        b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"GET /api/v1/datasets/ HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n",
        b"BREW /api/v1/datasets/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"GET /api/v1/datasets/\x00 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"GET /api/v1/datasets/ HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(200)) + b"\r\n",
        b"\r\n\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nab",
    ]
    for index, request in enumerate(framing):
        client.raw("framing", f"framing #{index}", request, wait=35)

    # Malformed multipart.
    image = goods["photo.jpg"]
    predict = f"/api/v1/model-versions/{alice.version}/predict/"
    upload = f"/api/v1/datasets/{alice.dataset}/images/"
    malformed = {
        "no boundary": (
            b'--x\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\n' + image + b"\r\n--x--\r\n",
            "multipart/form-data",
        ),
        "wrong boundary": (
            multipart([("image", "a.jpg", image, "image/jpeg")], "one")[0],
            "multipart/form-data; boundary=two",
        ),
        "unterminated": (
            multipart([("image", "a.jpg", image, "image/jpeg")])[0][:-30],
            "multipart/form-data; boundary=hostile-boundary",
        ),
        "no disposition": (
            b"--b\r\nContent-Type: image/jpeg\r\n\r\n" + image + b"\r\n--b--\r\n",
            "multipart/form-data; boundary=b",
        ),
        "nul filename": multipart([("image", "a\0.jpg", image, "image/jpeg")]),
        "traversal filename": multipart(
            [("image", "../../../etc/passwd", image, "image/jpeg"), ("file", "..\\..\\x.jpg", image, "image/jpeg")]
        ),
        "long filename": multipart(
            [
                ("image", "a" * 100_000 + ".jpg", image, "image/jpeg"),
                ("file", "b" * 100_000 + ".jpg", image, "image/jpeg"),
            ]
        ),
        "many files": multipart(
            [("file", f"{i}.jpg", image, "image/jpeg") for i in range(150)] + [("image", "a.jpg", image, "image/jpeg")]
        ),
        "many fields": multipart([(f"f{i}", "", b"x", "") for i in range(1500)]),
        "huge field": multipart([("label", "", b"L" * 12_000_000, ""), ("image", "a.jpg", image, "image/jpeg")]),
        "odd charset": (
            multipart([("label", "", "chats".encode("utf-16"), "text/plain; charset=utf-16")])[0],
            "multipart/form-data; boundary=hostile-boundary; charset=utf-7",
        ),
        "base64 transfer": (
            b'--b\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\n!!!notbase64!!!\r\n--b--\r\n",
            "multipart/form-data; boundary=b",
        ),
        "boundary 200": (b"", "multipart/form-data; boundary=" + "b" * 200),
        "empty body": (b"", "multipart/form-data; boundary=b"),
        "header injection": multipart([('image"; filename="x.jpg"\r\nX-Evil: 1', "a.jpg", image, "image/jpeg")]),
        "two images": multipart([("image", "a.jpg", image, "image/jpeg"), ("image", "b.jpg", b"notes", "image/jpeg")]),
        "image as field": multipart([("image", "", image, "")]),
        "urlencoded image": (b"image=" + image[:1000], "application/x-www-form-urlencoded"),
    }
    for label, (body, content_type) in malformed.items():
        for path in (predict, upload):
            client.send(
                "multipart",
                "POST",
                path,
                token=token,
                body=body,
                content_type=content_type,
                expect=ok4,
                label=f"{path} {label}",
            )

    # Wrong content types.
    for content_type in (
        "text/plain",
        "application/xml",
        "application/json",
        "image/jpeg",
        "application/octet-stream",
        "",
        "multipart/mixed",
        "application/x-www-form-urlencoded; charset=ebcdic",
    ):
        for path in (predict, upload, f"/api/v1/datasets/{alice.dataset}/imports/", "/api/v1/datasets/"):
            client.send(
                "content-type",
                "POST",
                path,
                token=token,
                body=image[:4000],
                content_type=content_type,
                expect=ok4,
                label=f"{path} {content_type}",
            )

    # JSON garbage.
    deep = "[" * 100_000 + "]" * 100_000
    deep_object = '{"a":' * 50_000 + "1" + "}" * 50_000
    garbage = [
        b"{",
        b"[]",
        b"null",
        b"1",
        b'"name"',
        deep.encode(),
        deep_object.encode(),
        b'{"name": NaN}',
        b'{"name": Infinity}',
        b'{"name": 1e999}',
        b'{"name": "\\ud800"}',
        b'{"name": "a\\u0000b"}',
        b'{"name": ["a"]}',
        b'{"name": {"x": 1}}',
        b'{"name": "' + b"n" * 2_000_000 + b'"}',
        b'{"name": "x", "name": "y"}',
        b"\xff\xfe{\x00}\x00",
        b"\x00\x00\x00",
        '{"name": "ünïcödé 🐱"}'.encode("utf-16"),
        b'{"name": true}',
        b'{"description": ' + b"1" * 100_000 + b"}",
        b'{"name": "x", "val_fraction": -1, "test_fraction": 2}',
        b'{"name": "x", "val_fraction": "NaN"}',
        b'{"name": "x", "split_seed": 99999999999999999999999999999}',
    ]
    json_targets = [
        ("POST", "/api/v1/datasets/"),
        ("PATCH", f"/api/v1/datasets/{alice.dataset}/"),
        ("POST", f"/api/v1/datasets/{alice.dataset}/model-versions/"),
        ("POST", f"/api/v1/datasets/{alice.dataset}/augmentations/"),
        ("PATCH", f"/api/v1/images/{alice.images[0]}/"),
        ("POST", f"/api/v1/predictions/{alice.prediction}/feedback/"),
        ("POST", f"/api/v1/predictions/{alice.prediction}/add-to-dataset/"),
        ("POST", predict),
        ("POST", "/api/v1/auth/token/"),
        ("POST", f"/api/v1/datasets/{alice.dataset}/splits/"),
        ("POST", f"/api/v1/datasets/{alice.dataset}/classes/"),
    ]
    for body in garbage:
        for method, path in json_targets:
            outcome = client.send(
                "json",
                method,
                path,
                token=token,
                body=body,
                content_type="application/json",
                expect=ok4 + (404, 405, 409, 429),
                label=f"{method} {path} {body[:30]!r}",
            )
            if 200 <= outcome.status < 300:
                client.tally.accepted_changes |= own_rows_changed_by(path, alice)
    for options in [
        {"backbone": "../../etc"},
        {"epochs": -5},
        {"epochs": 10**12},
        {"budget_minutes": float("1e308")},
        {"batch_size": 0},
        {"learning_rate": -1},
        {"image_size": 10**9},
        {"fine_tune_layers": "all"},
        {"augment": "maybe"},
        {"horizontal_flip": [1]},
        {"dropout": 5},
        {"label_smoothing": -3},
        {"seed": 2**80},
        {"budget_minutes": "quick"},
    ]:
        client.send(
            "json",
            "POST",
            f"/api/v1/datasets/{alice.dataset}/model-versions/",
            token=token,
            body=json.dumps(options).encode(),
            content_type="application/json",
            expect=(400,),
            label=str(options),
        )
    for options in [
        {"target_per_class": -1},
        {"target_per_class": 10**9},
        {"target_per_class": "x"},
        {"target_per_class": 5, "transforms": ["rm -rf"]},
        {"target_per_class": 5, "transforms": "flip"},
    ]:
        client.send(
            "json",
            "POST",
            f"/api/v1/datasets/{alice.dataset}/augmentations/",
            token=token,
            body=json.dumps(options).encode(),
            content_type="application/json",
            expect=(400,),
            label=str(options),
        )

    # Query parameters: huge, bad filter values, extremes.
    huge = "a" * 60_000
    queries = [
        "/api/v1/datasets/?page=0",
        "/api/v1/datasets/?page=-1",
        "/api/v1/datasets/?page=abc",
        "/api/v1/datasets/?page=99999999999999999999999",
        "/api/v1/datasets/?page_size=1000000000",
        f"/api/v1/datasets/?search={huge}",
        f"/api/v1/datasets/?include_public={huge}",
        "/api/v1/datasets/?include_public=maybe",
        f"/api/v1/datasets/{alice.dataset}/images/?label={huge}",
        f"/api/v1/datasets/{alice.dataset}/images/?split=nowhere",
        f"/api/v1/datasets/{alice.dataset}/images/?label=%00",
        f"/api/v1/datasets/{alice.dataset}/images/?page=2147483648",
        "/api/v1/model-versions/?dataset=abc",
        "/api/v1/model-versions/?dataset=-1",
        "/api/v1/model-versions/?dataset=99999999999999999999999999",
        "/api/v1/model-versions/?status=exploded",
        "/api/v1/model-versions/?is_active=perhaps",
        "/api/v1/model-versions/?dataset=1&dataset=2&dataset=x",
        "/api/v1/jobs/?status=weird",
        "/api/v1/jobs/?kind=train%00",
        "/api/v1/jobs/?dataset=1e5",
        "/api/v1/jobs/?dataset=99999999999999999999999999",
        "/api/v1/predictions/?model_version=abc",
        "/api/v1/predictions/?page=%ff%fe",
        f"/api/v1/model-versions/{alice.version}/export/?format=../../../etc/passwd",
        f"/api/v1/model-versions/{alice.version}/export/?format=",
        f"/api/v1/model-versions/{alice.version}/export/?format={huge}",
        f"/api/v1/model-versions/{alice.version}/export/metadata/?format=x",
        f"/api/v1/datasets/{alice.dataset}/near-duplicates/?threshold=-1",
        f"/api/v1/datasets/{alice.dataset}/label-issues/?page=-5",
        "/api/v1/datasets/?" + "&".join(f"k{i}=v" for i in range(3000)),
        "/api/v1/datasets/?%zz=%zz",
        "/api/v1/usage/?x=" + "%" * 1000,
        "/api/v1/schema/?format=xml",
        "/api/v1/schema/?lang=../../",
        "/api/v1/datasets/?ordering=password",
        "/api/v1/datasets/?ordering=owner__password",
    ]
    for path in queries:
        client.send("query", "GET", path, token=token, expect=(200, 400, 404, 405, 406, 414), label=path[:100])
    image_body, image_type = multipart([("image", "a.jpg", image, "image/jpeg")])
    for top_k in ("-1", "0", "1", "1000", "1001", "99999999999999999999999", "abc", "1.5", "", "nan", "1e3", "%00"):
        client.send(
            "extremes",
            "POST",
            f"{predict}?top_k={top_k}",
            token=token,
            body=image_body,
            content_type=image_type,
            expect=(200, 400),
            label=f"top_k={top_k}",
        )
    for threshold in ("-1", "0", "1", "2", "nan", "inf", "-inf", "1e309", "abc", "", "0.5.5", "1e-400"):
        client.send(
            "extremes",
            "POST",
            f"{predict}?threshold={threshold}",
            token=token,
            body=image_body,
            content_type=image_type,
            expect=(200, 400),
            label=f"threshold={threshold}",
        )
        body, content_type = multipart(
            [
                ("image", "a.jpg", image, "image/jpeg"),
                ("threshold", "", threshold.encode(), ""),
                ("top_k", "", threshold.encode(), ""),
            ]
        )
        client.send(
            "extremes",
            "POST",
            predict,
            token=token,
            body=body,
            content_type=content_type,
            expect=(200, 400),
            label=f"form threshold={threshold}",
        )

    # Forged headers.
    forged = [
        {"X-Forwarded-For": "127.0.0.1"},
        {"X-Forwarded-For": ", ".join(["1.2.3.4"] * 2000)},
        {"X-Forwarded-For": "not-an-ip"},
        {"X-Forwarded-For": "::1, 10.0.0.1, <script>"},
        {"X-Forwarded-Proto": "https"},
        {"X-Forwarded-Host": "evil.example"},
        {"X-Real-IP": "10.0.0.1"},
        {"Host": "evil.example"},
        {"Host": "127.0.0.1:99999"},
        {"Host": ""},
        {"Host": "a" * 5000},
        {"Authorization": "Token " + "x" * 40},
        {"Authorization": "Token"},
        {"Authorization": "Token a b"},
        {"Authorization": "Bearer abc"},
        {"Authorization": "Basic !!!notbase64"},
        {"Authorization": "Basic " + "YWxpY2U6"},
        {"Authorization": "Token " + bob.token + "x"},
        {"Cookie": "sessionid=forged; csrftoken=forged"},
        {"Cookie": "sessionid=" + "a" * 4000},
        {"Cookie": "=;;;==;sessionid"},
        {"Accept": "application/xml"},
        {"Accept": "text/html"},
        {"Accept": "*/*;q=nan"},
        {"Accept-Language": "xx-" + "y" * 3000},
        {"X-HTTP-Method-Override": "DELETE"},
        {"Origin": "http://evil.example"},
        {"Referer": "javascript:alert(1)"},
        {"Range": "bytes=0-99999999999999999999"},
        {"If-None-Match": "*" * 3000},
        {"Content-Encoding": "gzip"},
    ]
    for headers in forged:
        sent_token = None if "Authorization" in headers else token
        for method, path in (
            ("GET", "/api/v1/datasets/"),
            ("GET", f"/api/v1/datasets/{alice.dataset}/"),
            ("POST", predict),
            ("GET", f"/api/v1/model-versions/{alice.version}/export/?format=tflite"),
        ):
            body, content_type = (image_body, image_type) if method == "POST" else (b"", "")
            client.send(
                "headers",
                method,
                path,
                token=sent_token,
                body=body,
                content_type=content_type,
                headers=headers,
                expect=(200, 400, 401, 403, 406, 415, 416, 431),
                label=f"{method} {path} {str(headers)[:60]}",
            )

    # The other user's objects, by id: every one must answer 404 (401 without a token).
    theirs = [
        ("GET", f"/api/v1/datasets/{bob.dataset}/"),
        ("PATCH", f"/api/v1/datasets/{bob.dataset}/"),
        ("DELETE", f"/api/v1/datasets/{bob.dataset}/"),
        ("GET", f"/api/v1/datasets/{bob.dataset}/images/"),
        ("POST", f"/api/v1/datasets/{bob.dataset}/images/"),
        ("GET", f"/api/v1/datasets/{bob.dataset}/classes/"),
        ("POST", f"/api/v1/datasets/{bob.dataset}/imports/"),
        ("POST", f"/api/v1/datasets/{bob.dataset}/augmentations/"),
        ("POST", f"/api/v1/datasets/{bob.dataset}/model-versions/"),
        ("GET", f"/api/v1/datasets/{bob.dataset}/model-versions/"),
        ("POST", f"/api/v1/datasets/{bob.dataset}/predict/"),
        ("GET", f"/api/v1/datasets/{bob.dataset}/splits/"),
        ("POST", f"/api/v1/datasets/{bob.dataset}/splits/"),
        ("GET", f"/api/v1/datasets/{bob.dataset}/near-duplicates/"),
        ("GET", f"/api/v1/datasets/{bob.dataset}/label-issues/"),
        ("POST", f"/api/v1/datasets/{bob.dataset}/label-issues/"),
        *[
            (method, f"/api/v1/images/{image_id}/")
            for image_id in bob.images[:2]
            for method in ("GET", "PATCH", "DELETE")
        ],
        *[
            (method, f"/api/v1/classes/{class_id}/")
            for class_id in bob.classes
            for method in ("GET", "PATCH", "DELETE")
        ],
        ("GET", f"/api/v1/model-versions/{bob.version}/"),
        ("DELETE", f"/api/v1/model-versions/{bob.version}/"),
        ("GET", f"/api/v1/model-versions/{bob.version}/curves/"),
        ("POST", f"/api/v1/model-versions/{bob.version}/promote/"),
        ("POST", f"/api/v1/model-versions/{bob.version}/retrain/"),
        ("GET", f"/api/v1/model-versions/{bob.version}/export/?format=tflite"),
        ("GET", f"/api/v1/model-versions/{bob.version}/export/metadata/"),
        ("POST", f"/api/v1/model-versions/{bob.version}/predict/"),
        ("POST", f"/api/v1/model-versions/{bob.version}/batch-predictions/"),
        ("GET", f"/api/v1/predictions/{bob.prediction}/"),
        ("GET", f"/api/v1/predictions/{bob.prediction}/image/"),
        ("POST", f"/api/v1/predictions/{bob.prediction}/feedback/"),
        ("POST", f"/api/v1/predictions/{bob.prediction}/add-to-dataset/"),
        ("GET", f"/api/v1/jobs/{bob.job}/"),
        ("POST", f"/api/v1/jobs/{bob.job}/cancel/"),
        ("GET", f"/api/v1/jobs/{bob.job}/result/"),
        ("GET", f"/api/v1/jobs/{bob.job}/report/"),
        ("GET", f"/datasets/{bob.dataset}/"),
        ("GET", f"/images/{bob.images[0]}/file/"),
        ("GET", f"/images/{bob.images[0]}/thumbnail/"),
        ("GET", f"/versions/{bob.version}/"),
        ("GET", f"/predictions/{bob.prediction}/"),
        ("GET", f"/jobs/{bob.job}/"),
    ]
    for method, path in theirs:
        body, content_type = (
            (image_body, image_type)
            if "predict" in path or path.endswith("images/")
            else (b'{"label": "cats", "name": "mine"}', "application/json")
        )
        for who, sent_token in (("alice", token), ("anonymous", None)):
            outcome = client.send(
                "other-user",
                method,
                path,
                token=sent_token,
                body=body if method != "GET" else b"",
                content_type=content_type if method != "GET" else "",
                expect=(404, 403, 401, 302, 405) if who == "alice" else (401, 403, 302, 404, 405),
                label=f"{who} {method} {path}",
            )
            if 200 <= outcome.status < 300:
                client.tally.leaks.append(f"{who} {method} {path} → {outcome.status}")
    # Alice's own objects used with Bob's ids inside the body.
    cross = [
        (f"/api/v1/predictions/{alice.prediction}/add-to-dataset/", {"label": "cats", "dataset": bob.dataset}),
        (
            "/api/v1/ensembles/predict/",
            {"url": "http://127.0.0.1/a.jpg", "model_versions": [bob.version, alice.version]},
        ),
        ("/api/v1/predictions/", {"url": "http://10.0.0.1/a.jpg", "model_version": bob.version}),
        (f"/api/v1/images/{alice.images[0]}/", {"label": "cats", "dataset": bob.dataset, "dataset_id": bob.dataset}),
    ]
    for path, payload in cross:
        outcome = client.send(
            "other-user",
            "POST" if "images" not in path else "PATCH",
            path,
            token=token,
            body=json.dumps(payload).encode(),
            content_type="application/json",
            expect=(200, 201, 400, 404),
            label=f"cross {path}",
        )
        if 200 <= outcome.status < 300:
            client.tally.accepted_changes |= own_rows_changed_by(path, alice)
    body, content_type = multipart(
        [("image", "a.jpg", image, "image/jpeg"), ("model_versions", "", f"{bob.version},{alice.version}".encode(), "")]
    )
    client.send(
        "other-user",
        "POST",
        "/api/v1/ensembles/predict/",
        token=token,
        body=body,
        content_type=content_type,
        expect=(400, 404),
        label="ensemble with bob's version",
    )
    # Ids that are not ids.
    for bad in (
        "-1",
        "0",
        "abc",
        "1.5",
        "99999999999999999999999999",
        "9223372036854775808",
        "%00",
        "1%20OR%201=1",
        "..%2f..%2f",
        "1e3",
        "0x10",
        "%D9%A3",  # an Arabic-Indic three
    ):
        for template in (
            "/api/v1/datasets/{}/",
            "/api/v1/model-versions/{}/",
            "/api/v1/jobs/{}/",
            "/api/v1/images/{}/",
            "/api/v1/predictions/{}/",
            "/datasets/{}/",
        ):
            client.send(
                "ids", "GET", template.format(bad), token=token, expect=(404, 400, 302), label=template.format(bad)
            )

    # Throttles: a burst of failed logins must be refused with 429 (the token rate stays 10/min).
    for attempt in range(20):
        client.send(
            "throttle",
            "POST",
            "/api/v1/auth/token/",
            body=json.dumps({"username": "nobody-here", "password": f"guess{attempt}"}).encode(),
            content_type="application/json",
            expect=(400, 401, 403, 429),
            label=f"bad login #{attempt}",
        )


def setup_objects(client: Client, actor: Actor, run_job) -> None:
    """A prediction and a finished batch job for ``actor``, made through the API before the fingerprint."""
    from PIL import Image

    from training_jobs.models import Job

    jpeg = encoded(Image.new("RGB", (80, 80), (200, 30, 30)), "JPEG")
    body, content_type = multipart([("image", "red.jpg", jpeg, "image/jpeg")])
    connection = http_client.HTTPConnection("127.0.0.1", client.port, timeout=120)
    connection.request(
        "POST",
        f"/api/v1/model-versions/{actor.version}/predict/",
        body=body,
        headers={"Authorization": f"Token {actor.token}", "Content-Type": content_type},
    )
    response = connection.getresponse()
    content = response.read()
    if response.status != 200:
        raise SystemExit(f"the setup prediction answered {response.status}: {content[:500]!r}")
    answer = json.loads(content)
    actor.prediction = answer["prediction_id"]
    archive = zip_of([("a.jpg", jpeg), ("b.jpg", jpeg), ("c.txt", b"not an image")])
    body, content_type = multipart([("archive", "three.zip", archive, "application/zip")])
    connection.request(
        "POST",
        f"/api/v1/model-versions/{actor.version}/batch-predictions/",
        body=body,
        headers={"Authorization": f"Token {actor.token}", "Content-Type": content_type},
    )
    actor.job = json.loads(connection.getresponse().read())["job"]["id"]
    connection.close()
    run_job(actor.job)
    if Job.objects.get(id=actor.job).status != Job.Status.SUCCEEDED:
        raise SystemExit("the setup batch job failed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var-dir", help="reuse a platform folder (skips the model install next time)")
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    rng = random.Random(arguments.seed)
    for name, value in LIMITS.items():
        os.environ.setdefault(name, value)
    var_dir = arguments.var_dir or tempfile.mkdtemp(prefix="sightline-hostile-")
    print(f"platform in {var_dir}; installing the ImageNet models (a few minutes the first time)…", flush=True)
    _token, versions, env = setup_platform(var_dir)

    from django.conf import settings

    from classifier.models import Prediction
    from training_jobs.models import Job
    from training_jobs.tasks import run_job

    suffix = int(time.time()) % 10**6  # new users and datasets on a reused platform folder
    alice = actor_make(f"alice{suffix}", versions[0], rng)
    bob = actor_make(f"bob{suffix}", versions[0], rng)

    port = free_port()
    log_path = Path(var_dir) / f"gunicorn-{suffix}.log"
    # gunicorn inherits stderr: point it at a file for the run, so its log can be searched.
    saved_stderr = os.dup(2)
    with open(log_path, "wb") as log:
        os.dup2(log.fileno(), 2)
    try:
        server = start_web(env, port, workers=2)
    finally:
        os.dup2(saved_stderr, 2)
        os.close(saved_stderr)
    tally = Tally()
    client = Client(port, tally)
    try:
        setup_objects(client, alice, run_job)
        setup_objects(client, bob, run_job)
        before = fingerprint(Path(settings.MEDIA_ROOT))
        jobs_before = set(Job.objects.values_list("id", flat=True))
        predictions_before = set(Prediction.objects.values_list("id", flat=True))
        bob_before = owned_counts(bob)
        print(f"fingerprint: {len(before[0]):,} rows, {len(before[1]):,} files; sending…", flush=True)
        started = time.perf_counter()
        send_all(client, alice, bob, versions[0].id, rng)
        sending = time.perf_counter() - started
        print(f"{len(tally.outcomes):,} requests in {sending:.0f} s; running the queued jobs…", flush=True)
        ran = run_queued_jobs(jobs_before=jobs_before, predictions_before=predictions_before)
        # Each new job's detail, as its owner reads it: the reports must stay small too.
        for job_id in Job.objects.exclude(id__in=jobs_before).values_list("id", flat=True):
            client.send("job-detail", "GET", f"/api/v1/jobs/{job_id}/", token=alice.token, expect=(200,))
            client.send("job-detail", "GET", f"/api/v1/jobs/{job_id}/report/", token=alice.token, expect=(200, 404))
        after = fingerprint(Path(settings.MEDIA_ROOT))
        bob_after = owned_counts(bob)
        if bob_after != bob_before:
            tally.leaks.append(f"bob's rows changed by alice's requests: {bob_before} → {bob_after}")
    finally:
        server.terminate()
        server.wait(timeout=30)

    report(tally, ran, before, after, jobs_before, log_path)


def report(tally: Tally, ran: dict, before, after, jobs_before: set, log_path: Path) -> None:
    from training_jobs.models import Job

    outcomes = tally.outcomes
    statuses = collections.Counter(outcome.status for outcome in outcomes)
    server_errors = [o for o in outcomes if o.status >= 500]
    no_answer = [o for o in outcomes if o.status <= 0]
    tracebacks = [o for o in outcomes if o.traceback]
    largest = max((o for o in outcomes if not o.download), key=lambda o: o.size)
    downloads = [o for o in outcomes if o.download]
    slowest = sorted(outcomes, key=lambda o: o.seconds)[-5:]
    log = log_path.read_text(errors="replace")
    log_tracebacks = log.count("Traceback (most recent call last)")
    problems = [
        problem
        for problem in fingerprint_compare(before, after)
        if not any(problem.startswith(f"row changed: {key}") for key in tally.accepted_changes)
    ]
    new_jobs = Job.objects.exclude(id__in=jobs_before)
    job_statuses = collections.Counter(f"{job.kind}:{job.status}" for job in new_jobs)
    job_tracebacks = [
        job.id for job in new_jobs if "Traceback" in (job.error or "") or "Traceback" in json.dumps(job.report or {})
    ]
    largest_report = max((len(json.dumps(job.report or {})) for job in new_jobs), default=0)

    print("\nby category:")
    for category, count in sorted(collections.Counter(o.category for o in outcomes).items()):
        codes = collections.Counter(o.status for o in outcomes if o.category == category)
        print(f"  {category:<16} {count:>5}  {dict(sorted(codes.items()))}")
    print(f"\nstatus histogram: {dict(sorted(statuses.items()))}")
    print(f"jobs run in-process: {ran}; new jobs by kind:status: {dict(sorted(job_statuses.items()))}")
    print(f"largest new job report: {largest_report:,} bytes")
    print("slowest: " + "; ".join(f"{o.label[:60]} {o.seconds:.1f}s ({o.status})" for o in slowest))
    for line in tally.unexpected[:40]:
        print(f"  unexpected: {line}")
    if len(tally.unexpected) > 40:
        print(f"  … {len(tally.unexpected) - 40} more unexpected statuses")
    for outcome in server_errors + no_answer:
        print(f"  {outcome.status} {outcome.category}: {outcome.label} {outcome.note}")
    for problem in problems[:20]:
        print(f"  state: {problem}")
    print(f"\ngunicorn log: {log_path}")
    print(f"requests:                {len(outcomes):>7,}   (target ≥ 1,000)")
    print(f"server errors (5xx):     {len(server_errors):>7}   (target 0)")
    print(f"no answer / closed:      {len(no_answer):>7}")
    print(f"tracebacks in responses: {len(tracebacks):>7}   (target 0)")
    print(f"tracebacks in the log:   {log_tracebacks:>7}   (target 0)")
    raised = ran.get("jobs raised", 0) + ran.get("predictions raised", 0)
    print(f"jobs raised / traceback: {raised:>3} / {len(job_tracebacks):<3}   (target 0)")
    print(f"other user's data given: {len(tally.leaks):>7}   (target 0) {tally.leaks[:5]}")
    print(
        f"largest response:        {largest.size:>7,} bytes ({largest.label[:60]})   (target < {MAX_RESPONSE_BYTES:,})"
    )
    largest_download = max((o.size for o in downloads), default=0)
    print(f"file downloads:          {len(downloads):>7}   (streamed, not counted; largest {largest_download:,} bytes)")
    print(f"throttled (429):         {statuses.get(429, 0):>7}   (expected > 0: the failed-login burst)")
    state = "unchanged" if not problems else f"{len(problems)} problems"
    if tally.accepted_changes:
        state += f"; changed by accepted requests to alice's own objects: {sorted(tally.accepted_changes)}"
    print(f"pre-existing state:      {state} ({len(before[0]):,} rows, {len(before[1]):,} files)")


if __name__ == "__main__":
    main()
