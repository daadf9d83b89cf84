"""Hostile ZIP archives (zip slip, absolute and symlink members, bombs, nested, odd compression) and
labels CSVs, made in memory."""

import io
import random
import stat
import struct
import zipfile


def zip_of(
    members: list[tuple[str, bytes]], *, compression: int = zipfile.ZIP_DEFLATED, symlinks: tuple[str, ...] = ()
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
