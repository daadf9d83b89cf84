"""The internet, on this machine, for bench/url_import.py: threaded HTTP servers on four loopback
addresses (each its own "host"), every answer after a fixed latency, serving distinct JPEGs with planted
failures among them (404s, slow answers, oversized files, HTML pages, redirects to a private address)."""

import http.server
import io
import random
import threading
import time

HOSTS = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"]
IMAGE_LIMIT = 512 * 1024
PLANTED = {"http_error": 20, "timeout": 10, "too_large": 10, "not_image": 10, "refused": 10}
TOTAL = 1000


def distinct_jpegs(count: int, seed: int = 0) -> list[bytes]:
    """``count`` different 96x96 photos-sized-down stand-ins (noise over a colour), 5-10 KB each."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        base = rng.integers(0, 256, size=3)
        pixels = np.clip(base + rng.normal(0, 40, size=(96, 96, 3)), 0, 255).astype("uint8")
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=85)
        images.append(buffer.getvalue())
    return images


class Routes:
    """path -> (status, headers, body, delay); shared by every host's server."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.table: dict[str, tuple[int, dict[str, str], bytes, float]] = {}


def start_servers(routes: Routes) -> list[str]:
    """One threaded server per loopback address; returns their host:port names."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            status, headers, body, delay = routes.table.get(self.path, (404, {}, b"not here", 0.0))
            time.sleep(routes.latency + delay)
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the client gave up (timed out, refused the size)

        def log_message(self, format: str, *args: object) -> None:
            pass

    names = []
    for host in HOSTS:
        server = http.server.ThreadingHTTPServer((host, 0), Handler)
        server.daemon_threads = True
        server.request_queue_size = 128
        threading.Thread(target=server.serve_forever, daemon=True).start()
        names.append(f"{host}:{server.server_address[1]}")
    return names


def plant(routes: Routes, hosts: list[str], seed: int) -> list[tuple[str, str]]:
    """The 1,000 (url, label) rows, shuffled, with the planted failures among them."""
    good = distinct_jpegs(TOTAL - sum(PLANTED.values()), seed=seed)
    rows: list[tuple[str, str]] = []
    for index, content in enumerate(good):
        routes.table[f"/good/{index}.jpg"] = (200, {"Content-Type": "image/jpeg"}, content, 0.0)
        rows.append((f"/good/{index}.jpg", f"class{index % 5}"))
    huge = b"\xff\xd8" + b"\0" * IMAGE_LIMIT
    for index in range(PLANTED["http_error"]):
        rows.append((f"/missing/{index}.jpg", "class0"))
    for index in range(PLANTED["timeout"]):
        routes.table[f"/slow/{index}.jpg"] = (200, {}, good[0], 5.0)
        rows.append((f"/slow/{index}.jpg", "class0"))
    for index in range(PLANTED["too_large"]):
        routes.table[f"/huge/{index}.jpg"] = (200, {"Content-Type": "image/jpeg"}, huge, 0.0)
        rows.append((f"/huge/{index}.jpg", "class0"))
    for index in range(PLANTED["not_image"]):
        routes.table[f"/page/{index}.jpg"] = (200, {"Content-Type": "text/html"}, b"<html>a page</html>", 0.0)
        rows.append((f"/page/{index}.jpg", "class0"))
    for index in range(PLANTED["refused"]):
        routes.table[f"/redirect/{index}.jpg"] = (302, {"Location": f"http://10.0.0.1/{index}.jpg"}, b"", 0.0)
        rows.append((f"/redirect/{index}.jpg", "class0"))
    random.Random(seed).shuffle(rows)
    return [(f"http://{hosts[index % len(hosts)]}{path}", label) for index, (path, label) in enumerate(rows)]
