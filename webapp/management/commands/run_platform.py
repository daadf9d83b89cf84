"""Run the whole platform on one machine: migrate, install the ready-made ImageNet models, then the web
server and real Celery workers.

Workers are separate processes, as in production: one for the ``cpu`` queue (imports,
augmentation, export; it also runs the periodic reaper) and one for the ``gpu`` queue (training,
batch inference) that runs each task in a fresh child process: TensorFlow is imported only inside
the task, after the fork, and the child exits after one task so its memory goes back. Ctrl-C stops all.
"""

import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Migrate, install the ImageNet models, then run the web server and the cpu and gpu Celery workers "
        "until Ctrl-C."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")
        parser.add_argument("--no-workers", action="store_true", help="Run only the web server.")

    def handle(self, *args, host: str, port: str, no_workers: bool, **options):
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        # In a child process: the first install builds models with TensorFlow, whose memory this
        # supervising process would otherwise hold for as long as the platform runs. Later starts
        # find them installed and return at once.
        installed = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [sys.executable, "manage.py", "install_imagenet_models"], cwd=settings.BASE_DIR, check=False
        )
        if installed.returncode:
            # The platform is useful without them (users train their own), so it starts anyway.
            self.stderr.write(
                "Installing the ImageNet models failed (see above); starting without them. "
                "Retry with: .venv/bin/python manage.py install_imagenet_models"
            )

        processes: list[subprocess.Popen] = []
        if not no_workers:
            processes += [
                self._worker("cpu", ["--pool", "threads", "--concurrency", "2", "--beat"]),
                self._worker("gpu", ["--pool", "prefork", "--concurrency", "1", "--max-tasks-per-child", "1"]),
            ]
        processes.append(
            subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [sys.executable, "manage.py", "runserver", "--noreload", f"{host}:{port}"],
                cwd=settings.BASE_DIR,
            )
        )
        self._announce(host, port)
        self._wait(processes)

    def _worker(self, queue: str, extra: list[str]) -> subprocess.Popen:
        argv = [
            sys.executable, "-m", "celery", "-A", "webapp", "worker",
            "-Q", queue, "-n", f"{queue}@%h", "--loglevel", "INFO", "--prefetch-multiplier", "1",
            *extra,
        ]
        return subprocess.Popen(argv, cwd=settings.BASE_DIR)  # noqa: S603 - fixed argv, no shell

    def _announce(self, host: str, port: str) -> None:
        database = settings.DATABASES["default"]
        self.stdout.write(
            self.style.SUCCESS(f"\nSightline is starting at http://{host}:{port}/\n")
            + f"  database: {database['ENGINE'].rsplit('.', 1)[-1]} {database['NAME']}\n"
            + f"  broker:   {settings.CELERY_BROKER_URL}\n"
            + "  make an admin account: .venv/bin/python manage.py createsuperuser\n"
            + "  API docs: /api/v1/docs/   stop: Ctrl-C\n"
        )

    def _wait(self, processes: list[subprocess.Popen]) -> None:
        def stop(*_):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        try:
            # Any process ending (a crash, a port in use) ends the platform: half a platform misleads.
            while all(p.poll() is None for p in processes):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 20
            for process in processes:
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
        code = next((p.returncode for p in processes if p.returncode not in (0, None, -signal.SIGTERM)), 0)
        if code:
            self.stderr.write(f"A platform process exited with code {code}.")
            raise SystemExit(code)
