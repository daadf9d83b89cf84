"""``make run``'s command, run for real: quiet, stopped cleanly by Ctrl-C, loud and non-zero when one of its
processes dies; and workers that skip the CUDA probe on a machine without a GPU."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from webapp.management.processes import child_environment

ROOT = Path(__file__).resolve().parents[2]


def test_workers_skip_the_cuda_probe_on_a_machine_without_a_gpu(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    monkeypatch.setattr("webapp.management.processes.gpu_device_present", lambda: False)

    quiet = child_environment(verbose=False)
    assert (quiet["CUDA_VISIBLE_DEVICES"], quiet["TF_CPP_MIN_LOG_LEVEL"]) == ("", "3")
    assert "CUDA_VISIBLE_DEVICES" not in child_environment(verbose=True)

    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    assert child_environment(verbose=False)["TF_CPP_MIN_LOG_LEVEL"] == "0"

    monkeypatch.setattr("webapp.management.processes.gpu_device_present", lambda: True)
    assert "CUDA_VISIBLE_DEVICES" not in child_environment(verbose=False)


class Platform:
    """``manage.py run_platform`` in a throwaway var folder (SQLite, filesystem broker), its output
    collected line by line."""

    def __init__(self, var_dir: Path):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        environment = {
            name: value
            for name, value in os.environ.items()
            if name not in {"DATABASE_URL", "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER"}
        }
        environment.update(SIGHTLINE_DEV="1", SIGHTLINE_VAR_DIR=str(var_dir), PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "run_platform", "--port", str(self.port), "--no-imagenet"],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(self.process.stdout), daemon=True).start()

    def wait_for(self, text: str, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while not any(text in line for line in self.lines):
            assert time.monotonic() < deadline and self.process.poll() is None, self.output
            time.sleep(0.2)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def children(self) -> dict[int, str]:
        """Its child processes' ids and command lines; each leads its own process group."""
        return {pid: command for pid, parent, _, command in _processes() if parent == self.process.pid}

    def close(self, groups: list[int]) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for group in groups:
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _processes() -> list[tuple[int, int, int, str]]:
    """(pid, parent pid, process group, command line) of every process, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            continue
        found.append((int(stat.parent.name), int(fields[1]), int(fields[2]), command))
    return found


def _alive_in(groups: list[int], seconds: float = 10) -> list[str]:
    """The processes still in ``groups`` once they have had ``seconds`` to go."""
    deadline = time.monotonic() + seconds
    while True:
        alive = [command for _, _, group, command in _processes() if group in groups]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


@pytest.fixture
def platform(tmp_path):
    if not Path("/proc/self/stat").exists():
        pytest.skip("finds the platform's processes through /proc")
    started = Platform(tmp_path / "var")
    groups: list[int] = []
    yield started, groups
    started.close(groups)


def test_run_platform_is_quiet_and_ctrl_c_stops_everything_cleanly(platform):
    started, groups = platform
    started.wait_for("createsuperuser")
    children = started.children()
    groups += list(children)
    assert sorted(command.split(" -Q ")[-1].split()[0] for command in children.values() if "celery" in command) == [
        "cpu",
        "gpu",
        "inference",
    ]

    # The two lines a person needs come last, and nothing of the workers' output comes before them.
    lines = started.output.strip().splitlines()
    assert lines[-2].startswith(f"Sightline is running at http://127.0.0.1:{started.port}/")
    assert lines[-1].startswith("Make an admin account:  ")
    assert lines[-1].endswith("python manage.py createsuperuser")
    assert "celery@" not in started.output and "superuser privileges" not in started.output
    assert "var/log/ (worker-cpu.log, worker-inference.log, worker-gpu.log, web.log)" in started.output

    started.process.send_signal(signal.SIGINT)

    assert started.process.wait(timeout=30) == 0, started.output
    assert started.output.rstrip().endswith("Stopped.")
    assert _alive_in(groups) == []


def test_a_process_that_dies_stops_the_platform_with_its_exit_code(platform):
    started, groups = platform
    started.wait_for("createsuperuser")
    children = started.children()
    groups += list(children)
    gpu_worker = next(pid for pid, command in children.items() if "-Q gpu" in command)

    os.kill(gpu_worker, signal.SIGKILL)

    assert started.process.wait(timeout=30) == 128 + signal.SIGKILL
    assert "The gpu worker was killed by signal 9, so the platform stopped." in started.output
    # With the end of its log, which says why when it can.
    assert "/var/log/worker-gpu.log" in started.output
    assert _alive_in(groups) == []
