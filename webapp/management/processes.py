"""The processes ``run_platform`` supervises: starting them quiet or not, whether one still answers,
and stopping them all, with whatever each started."""

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# A worker in the middle of a task finishes it on SIGTERM; past this it is killed, and the job rows'
# heartbeats let the reaper recover the task, as after any lost worker.
STOP_GRACE_SECONDS = 10
# A server listening on every address is reached, and shown, at the loopback one.
LOOPBACK_OF_WILDCARD = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104 - connects, binds nothing


class ProcessEnded(Exception):
    """A platform process ended without being asked to."""

    def __init__(self, child: "Child"):
        super().__init__(child.name)
        self.child = child


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path | None

    def exit_status(self) -> int:
        """The command's exit status for this process's end: never 0, since it was not asked to end."""
        code = self.process.returncode
        return 128 - code if code < 0 else code or 1


def answers(host: str, port: str) -> bool:
    """Whether something accepts connections at ``host:port``."""
    try:
        socket.create_connection((LOOPBACK_OF_WILDCARD.get(host, host), int(port)), timeout=0.5).close()
    except OSError:
        return False
    return True


def child_environment(*, verbose: bool) -> dict[str, str]:
    """The environment of the platform's processes. Quiet, a machine with no GPU device also skips
    TensorFlow's CUDA probe and its error (``cuInit: UNKNOWN ERROR (303)``) in every training. A value
    set by the caller is kept."""
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if verbose:
        return environment
    if gpu_device_present():
        environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    else:
        environment.setdefault("CUDA_VISIBLE_DEVICES", "")
        # Level 3 hides TensorFlow's C++ errors too: the probe's is one, and its Python errors still
        # reach the job.
        environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return environment


def gpu_device_present() -> bool:
    """Whether an NVIDIA device node exists (Linux, or WSL's /dev/dxg): without one, CUDA cannot work."""
    return any(Path("/dev").glob("nvidia[0-9]*")) or Path("/dev/dxg").exists()


def stop(children: list[Child]) -> None:
    """SIGTERM each running process, wait up to STOP_GRACE_SECONDS, then kill what is left of each
    process group (a worker's pool children included). A second Ctrl-C kills at once."""
    for child in children:
        if child.process.poll() is None:
            child.process.terminate()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    try:
        for child in children:
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            try:
                os.killpg(child.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            child.process.wait()


def python_command() -> str:
    return shown_path(Path(sys.executable))


def shown_path(path: Path) -> str:
    """``path`` relative to the working folder when it is inside it (``.venv/bin/python``, ``var/log``)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
