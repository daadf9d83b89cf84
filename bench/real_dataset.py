"""Train on a real offline dataset through a running platform's API, as a user would.

scikit-image's LFW subset (100 faces, 100 non-faces) is zipped into one folder per class, imported,
trained with EfficientNet-Lite0 ImageNet weights on the gpu worker, and the version's held-out test
accuracy, calibration and training time are printed. Start the platform first (`make run`), then:

    .venv/bin/python bench/real_dataset.py --url http://127.0.0.1:8000 --username u --password p
"""

import argparse
import io
import json
import time
import urllib.request
import zipfile
from typing import Any

import numpy as np
from PIL import Image
from skimage import data


def lfw_archive() -> bytes:
    images = data.lfw_subset()  # type: ignore[no-untyped-call]  # scikit-image leaves it unannotated; (200, 25, 25) floats in [0, 1]: first 100 faces, then 100 non-faces
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index, pixels in enumerate(images):
            folder = "face" if index < 100 else "not_face"
            png = io.BytesIO()
            Image.fromarray((pixels * 255).astype(np.uint8)).save(png, format="PNG")
            archive.writestr(f"lfw/{folder}/{index:03d}.png", png.getvalue())
    return buffer.getvalue()


class Client:
    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.token = ""

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        files: dict[str, tuple[str, bytes]] | None = None,
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Token {self.token}"} if self.token else {}
        payload = None
        if files:
            boundary = "sightline-bench"
            parts = []
            for name, (filename, content) in files.items():
                parts.append(
                    f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                    "Content-Type: application/octet-stream\r\n\r\n".encode()
                    + content
                    + b"\r\n"
                )
            payload = b"".join(parts) + f"--{boundary}--\r\n".encode()
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        elif body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base + path, data=payload, method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - the user's own platform
            text = response.read()
        return json.loads(text) if text else {}

    def wait(self, job_id: int, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.call("GET", f"/api/v1/jobs/{job_id}/")
            if job["status"] in ("succeeded", "failed", "cancelled"):
                return job
            time.sleep(1)
        raise SystemExit(f"job {job_id} did not finish in {timeout:.0f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--epochs", type=int, default=20)
    arguments = parser.parse_args()

    client = Client(arguments.url)
    client.token = client.call(
        "POST", "/api/v1/auth/token/", {"username": arguments.username, "password": arguments.password}
    )["token"]
    dataset = client.call(
        "POST",
        "/api/v1/datasets/",
        {"name": f"LFW faces {time.strftime('%H%M%S')}", "val_fraction": 0.2, "test_fraction": 0.2},
    )
    started = time.monotonic()
    job = client.call(
        "POST", f"/api/v1/datasets/{dataset['id']}/imports/", files={"archive": ("lfw.zip", lfw_archive())}
    )
    job = client.wait(job["job"]["id"], 300)
    print(f"import: {job['status']} {job['message']} in {time.monotonic() - started:.1f}s")

    started = time.monotonic()
    version = client.call(
        "POST",
        f"/api/v1/datasets/{dataset['id']}/model-versions/",
        {"backbone": arguments.backbone, "epochs": arguments.epochs, "weights": "imagenet"},
    )
    job = client.wait(version["job"]["id"], 1800)
    seconds = time.monotonic() - started
    detail = client.call("GET", f"/api/v1/model-versions/{version['id']}/")
    metrics, calibration = detail.get("metrics") or {}, detail.get("calibration") or {}
    print(f"training: {job['status']} in {seconds:.1f}s: {job['message']} {job['error']}")
    print(
        f"test accuracy: {metrics.get('accuracy')}  macro F1: {metrics.get('macro_f1')}  "
        f"split sizes: {metrics.get('split_sizes')}  best epoch: {metrics.get('best_epoch')}"
    )
    print(
        f"calibration: T={calibration.get('temperature')} ECE {calibration.get('ece_before')} -> "
        f"{calibration.get('ece_after')}"
    )


if __name__ == "__main__":
    main()
