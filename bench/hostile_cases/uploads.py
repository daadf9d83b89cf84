"""Hostile uploads: images to every upload and predict route, archives to imports and batch
predictions, labels and URL CSVs, and unsafe URLs to every route that fetches one."""

import json
import random

from bench.hostile_cases.archives import hostile_archives, hostile_labels
from bench.hostile_cases.client import ACCEPTED_OR_REFUSED, Client, multipart
from bench.hostile_cases.images import UNSAFE_URLS, bomb_images, flipped_images, not_images, truncated_images
from bench.hostile_cases.platform import Actor


def send_uploads(
    client: Client, alice: Actor, public_version: int, goods: dict[str, bytes], rng: random.Random
) -> None:
    """Images, archives and CSVs, then unsafe URLs, as alice."""
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
                expect=ACCEPTED_OR_REFUSED,
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
            expect=ACCEPTED_OR_REFUSED,
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
            expect=ACCEPTED_OR_REFUSED,
        )
        body, content_type = multipart([("image", filename, content, "")])
        client.send(
            f"image:{category}",
            "POST",
            f"/api/v1/datasets/{alice.dataset}/predict/",
            token=token,
            body=body,
            content_type=content_type,
            expect=ACCEPTED_OR_REFUSED,
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
                expect=ACCEPTED_OR_REFUSED,
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
            expect=ACCEPTED_OR_REFUSED,
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
            expect=ACCEPTED_OR_REFUSED,
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
        expect=ACCEPTED_OR_REFUSED,
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
