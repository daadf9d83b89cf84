"""Run the whole platform on one machine: migrate, install the ready-made ImageNet models, then the web
server and real Celery workers.

Workers are separate processes, as in production: one for the ``cpu`` queue (imports,
augmentation, export; it also runs the periodic reaper), one for the ``inference`` queue (batch and
queued predictions, scoring: TFLite, two at a time, so they never wait behind a training) and one for
the ``gpu`` queue (training, label issues) that runs each task in a fresh child process: TensorFlow is
imported only inside the task, after the fork, and the child exits after one task so its memory goes
back.

Quiet by default: the processes write to log files under the var folder and the terminal gets the
address and how to make an admin, last. Ctrl-C stops everything and exits 0; a process that ends on its
own stops the rest, shows the end of its log and exits non-zero. ``--verbose`` shows everything.
"""

import signal
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from kombu.utils.url import maybe_sanitize_url

from webapp.management.processes import (
    LOOPBACK_OF_WILDCARD,
    Child,
    ProcessEnded,
    answers,
    child_environment,
    python_command,
    shown_path,
    stop,
)

# Celery warns on every start as root (a container, a throwaway VM). C_FORCE_ROOT is not the answer: it
# only lets a root worker accept pickle, and this project accepts JSON only. The quiet run filters this
# one warning by its text (-W matches the start of the message); --verbose shows it.
ROOT_WARNING_FILTER = "ignore:You're running the worker with superuser privileges"
# The address is announced once the web server answers; a slower start is announced anyway.
READY_TIMEOUT_SECONDS = 60
LOG_TAIL_LINES = 20


class Command(BaseCommand):
    help = (
        "Migrate, install the ImageNet models, then run the web server and the cpu, inference and gpu Celery "
        "workers until Ctrl-C. Their output goes to log files under the var folder unless --verbose."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")
        parser.add_argument("--no-workers", action="store_true", help="Run only the web server.")
        parser.add_argument(
            "--no-imagenet", action="store_true", help="Do not install the ready-made ImageNet-1k models."
        )
        parser.add_argument(
            "--verbose",
            action="store_true",
            help="Show every process's output here (Celery banners and INFO logs, TensorFlow's) "
            "instead of in the log files.",
        )

    def handle(
        self,
        *args: object,
        host: str,
        port: str,
        no_workers: bool,
        no_imagenet: bool,
        verbose: bool,
        **options: object,
    ) -> None:
        # Ctrl-C, a closed terminal and SIGTERM all stop the platform the same way, even when this
        # process was started with SIGINT ignored (as a shell's background job is).
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.default_int_handler)
        self.verbose = verbose
        self.log_dir = Path(settings.VAR_DIR) / "log"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.environment = child_environment(verbose=verbose)
        # Every process started and not yet ended, for Ctrl-C to stop whatever step it comes in.
        self.children: list[Child] = []
        try:
            self._port_check(host, port)
            call_command("migrate", interactive=False, verbosity=0)
            call_command("collectstatic", interactive=False, verbosity=0)
            if not no_imagenet:
                self._install_imagenet_models()
            if not no_workers:
                self._worker("cpu", ["--pool", "threads", "--concurrency", "2", "--beat"])
                self._worker("inference", ["--pool", "threads", "--concurrency", "2"])
                self._worker("gpu", ["--pool", "prefork", "--concurrency", "1", "--max-tasks-per-child", "1"])
            self._start("web", ["manage.py", "runserver", "--noreload", f"{host}:{port}"], log_name="web.log")
            self._wait_until_serving(host, port)
            self._announce(host, port)
            while True:
                self._raise_if_one_ended()
                time.sleep(0.5)
        except KeyboardInterrupt:
            self.stdout.write("\nStopping…")
            self.stdout.flush()
            stop(self.children)
            self.stdout.write("Stopped.")
        except ProcessEnded as ended:
            stop(self.children)
            self._report_end(ended.child)
            raise SystemExit(ended.child.exit_status()) from None

    def _port_check(self, host: str, port: str) -> None:
        """Refuse a port something already answers on: the web server would fail, but only in its log."""
        if answers(host, port):
            self.stderr.write(f"Port {port} is already in use on {host}; choose another: make run PORT={int(port) + 1}")
            raise SystemExit(1)

    def _start(self, name: str, arguments: list[str], *, log_name: str, stdout_here: bool = False) -> Child:
        """Start ``python <arguments>`` in its own process group, so Ctrl-C in the terminal reaches only this
        command, which then stops each process and what it started. Quiet, its output (or only its
        stderr, with ``stdout_here``) goes to ``log_name`` in the log folder, emptied at each start."""
        log = None if self.verbose else self.log_dir / log_name
        output: IO[bytes] | None = None if log is None else log.open("wb")
        try:
            process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [sys.executable, *arguments],
                cwd=settings.BASE_DIR,
                env=self.environment,
                stdin=subprocess.DEVNULL,
                stdout=None if stdout_here else output,
                stderr=output if stdout_here else subprocess.STDOUT if output else None,
                process_group=0,
            )
        finally:
            if output is not None:
                output.close()
        child = Child(name, process, log)
        self.children.append(child)
        return child

    def _worker(self, queue: str, extra: list[str]) -> Child:
        quiet = [] if self.verbose else ["-W", ROOT_WARNING_FILTER]
        celery = ["-m", "celery", "-A", "webapp", *([] if self.verbose else ["--quiet"]), "worker"]
        options = ["-Q", queue, "-n", f"{queue}@%h", "--loglevel", "INFO" if self.verbose else "WARNING"]
        arguments = [*quiet, *celery, *options, "--prefetch-multiplier", "1", *extra]
        return self._start(f"{queue} worker", arguments, log_name=f"worker-{queue}.log")

    def _install_imagenet_models(self) -> None:
        """In a child process: the first install builds models with TensorFlow, whose memory this
        supervising process would otherwise hold for as long as the platform runs. Later starts find
        them installed and return at once. Its own progress lines stay on the terminal (the first
        install takes minutes); TensorFlow's chatter goes to the log."""
        child = self._start(
            "ImageNet install", ["manage.py", "install_imagenet_models"], log_name="install.log", stdout_here=True
        )
        child.process.wait()
        self.children.remove(child)
        if child.process.returncode:
            # The platform is useful without them (users train their own), so it starts anyway.
            self.stderr.write(
                "Installing the ImageNet models failed; starting without them. "
                f"Retry with: {python_command()} manage.py install_imagenet_models"
            )
            self._show_log_tail(child)

    def _wait_until_serving(self, host: str, port: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            self._raise_if_one_ended()
            if answers(host, port):
                return
            time.sleep(0.2)

    def _raise_if_one_ended(self) -> None:
        for child in self.children:
            if child.process.poll() is not None:
                raise ProcessEnded(child)

    def _announce(self, host: str, port: str) -> None:
        shown_host = LOOPBACK_OF_WILDCARD.get(host, host)
        url = f"http://[{shown_host}]:{port}/" if ":" in shown_host else f"http://{shown_host}:{port}/"
        database = settings.DATABASES["default"]
        lines = [
            "",
            f"  database  {database['ENGINE'].rsplit('.', 1)[-1]} {database['NAME']}",
            f"  broker    {maybe_sanitize_url(settings.CELERY_BROKER_URL)}",
            f"  API docs  {url}api/v1/docs/",
        ]
        if not self.verbose:
            names = ", ".join(child.log.name for child in self.children if child.log)
            lines.append(f"  logs      {shown_path(self.log_dir)}/ ({names}); --verbose shows them here instead")
        everywhere = "  (listening on all addresses)" if host in LOOPBACK_OF_WILDCARD else ""
        lines += [
            "",
            self.style.SUCCESS(f"Sightline is running at {url}") + f"{everywhere}  · Ctrl-C stops it",
            f"Make an admin account:  {python_command()} manage.py createsuperuser",
        ]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()

    def _report_end(self, child: Child) -> None:
        code = child.process.returncode
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        self.stderr.write(f"The {child.name} {how}, so the platform stopped.")
        self._show_log_tail(child)

    def _show_log_tail(self, child: Child) -> None:
        if child.log is None:
            return
        with child.log.open(encoding="utf-8", errors="replace") as log:
            tail = deque(log, maxlen=LOG_TAIL_LINES)
        shown = shown_path(child.log)
        self.stderr.write(f"The end of {shown}:\n" + "".join(tail).rstrip() if tail else f"{shown} is empty.")
