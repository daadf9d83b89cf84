"""A TCP proxy on 127.0.0.1 that holds every chunk of bytes for a fixed time each way, as a network between
two hosts would: a loopback server behind it answers like one a few milliseconds away. For benches only.

    .venv/bin/python bench/delay_proxy.py --port 9001 --target-port 9000 --delay-ms 5
"""

import argparse
import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def send() -> None:
        while True:
            due, data = await queue.get()
            if not data:
                writer.close()
                return
            await asyncio.sleep(max(0.0, due - loop.time()))
            writer.write(data)
            await writer.drain()

    sender = asyncio.create_task(send())
    try:
        while data := await reader.read(65536):
            queue.put_nowait((loop.time() + delay, data))
    except ConnectionError:
        pass
    queue.put_nowait((0.0, b""))
    try:
        await sender
    except ConnectionError:
        pass


async def _serve(port: int, target_port: int, delay: float) -> None:
    async def connected(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            _pump(client_reader, server_writer, delay), _pump(server_reader, client_writer, delay)
        )

    server = await asyncio.start_server(connected, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def delay_proxy_start(*, port: int, target_port: int, delay_ms: float) -> "subprocess.Popen[bytes]":
    """The proxy as a process of its own (its waiting must not take this process's GIL), accepting once
    this returns."""
    process = subprocess.Popen(  # noqa: S603 - fixed argv
        [sys.executable, str(Path(__file__)), "--port", str(port), "--target-port", str(target_port)]
        + ["--delay-ms", str(delay_ms)]
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"the delay proxy did not listen on port {port}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--target-port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, required=True, help="added each way")
    arguments = parser.parse_args()
    asyncio.run(_serve(arguments.port, arguments.target_port, arguments.delay_ms / 1000))


if __name__ == "__main__":
    main()
