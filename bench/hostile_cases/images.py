"""Hostile images (decompression bombs, truncated and bit-flipped files, files that are no images) and
unsafe URLs, as bytes and strings made in memory."""

import io
import random
import struct
import zlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image


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


def encoded(image: "Image.Image", fmt: str, **options: Any) -> bytes:
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
