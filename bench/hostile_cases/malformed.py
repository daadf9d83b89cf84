"""Requests broken below the application: bodies declared beyond the limits, broken HTTP framing,
malformed multipart bodies and wrong content types."""

from bench.hostile_cases.client import ACCEPTED_OR_REFUSED, Client, multipart
from bench.hostile_cases.platform import Actor


def send_malformed(client: Client, alice: Actor, image: bytes) -> None:
    """Oversized and broken requests, as alice; ``image`` is a good JPEG."""
    token = alice.token
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
                expect=ACCEPTED_OR_REFUSED,
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
                expect=ACCEPTED_OR_REFUSED,
                label=f"{path} {content_type}",
            )
