"""Well-framed requests with hostile values: JSON garbage, out-of-range training and augmentation
options, huge and bad query parameters, and top_k/threshold extremes."""

import json

from bench.hostile_cases.client import ACCEPTED_OR_REFUSED, Client, multipart
from bench.hostile_cases.platform import Actor, own_rows_changed_by


def send_bad_values(client: Client, alice: Actor, image: bytes) -> None:
    """Hostile values to alice's own objects; ``image`` is a good JPEG."""
    token = alice.token
    predict = f"/api/v1/model-versions/{alice.version}/predict/"
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
                expect=ACCEPTED_OR_REFUSED + (404, 405, 409, 429),
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
