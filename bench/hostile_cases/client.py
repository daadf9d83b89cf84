"""The HTTP side of the hostile bench: a client that sends requests (well-formed or raw bytes) to the
server and tallies what came back."""

import http.client as http_client
import socket
import time
from dataclasses import dataclass, field

TRACEBACK_MARKERS = (b"Traceback (most recent call last)", b"Exception Value:", b"Request Method:")
# Any success, or a clean refusal of what was sent.
ACCEPTED_OR_REFUSED = tuple(range(200, 300)) + (400, 413, 415)


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
    accepted_changes: set[tuple[str, int]] = field(default_factory=set)


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

    def _record(
        self,
        category: str,
        label: str,
        status: int,
        content: bytes,
        started: float,
        expect: tuple[int, ...],
        note: str = "",
    ) -> Outcome:
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
