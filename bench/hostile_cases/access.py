"""Requests for what alice may not have: forged headers, bob's objects by id (and inside alice's
bodies), ids that are not ids, and a burst of failed logins that must be throttled."""

import json

from bench.hostile_cases.client import Client, multipart
from bench.hostile_cases.platform import Actor, own_rows_changed_by


def send_across_users(client: Client, alice: Actor, bob: Actor, image: bytes) -> None:
    """Forged headers, the other user's objects and a login burst; ``image`` is a good JPEG."""
    token = alice.token
    predict = f"/api/v1/model-versions/{alice.version}/predict/"
    image_body, image_type = multipart([("image", "a.jpg", image, "image/jpeg")])
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
