"""No Docker engine runs here, so check docker-compose.yml by reading it: every command it runs must
exist in the project, and every queue the code routes to must have a worker; the gunicorn config, the
workers' settings, and production settings that refuse to start unsafe."""

import importlib
import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from training_jobs.kinds import job_kinds

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def _option(argv: list[str], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv else None


def test_compose_has_the_production_shape():
    assert {"postgres", "redis", "web", "worker-cpu", "worker-inference", "worker-gpu", "flower"} <= set(SERVICES)
    images = {SERVICES[name].get("image") for name in ("web", "worker-cpu", "worker-inference", "flower")}
    assert images == {"sightline:latest"}, "web and workers must share one image"
    assert (ROOT / SERVICES["web"]["build"] / "Dockerfile").exists()
    assert "media:/data" in SERVICES["web"]["volumes"]
    assert SERVICES["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]


def test_the_gpu_worker_runs_the_dockerfiles_cuda_target_of_the_same_tensorflow():
    """The gpu worker's image is the Dockerfile's gpu target: the CPU image's code and pinned TensorFlow
    with NVIDIA's CUDA wheels. A plain build (the last stage) is the small CPU image."""
    build = SERVICES["worker-gpu"]["build"]
    assert (build["context"], build["target"]) == (".", "gpu")
    assert SERVICES["worker-gpu"]["image"] != "sightline:latest"
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = [line.split()[-1] for line in dockerfile.splitlines() if line.startswith("FROM ")]
    assert "gpu" in stages and stages[-1] == "cpu"
    version_from_pin = "sed -n 's/^tensorflow==//p' requirements.txt"
    assert f'RUN pip install "tensorflow[and-cuda]==$({version_from_pin})"' in dockerfile
    pinned = subprocess.run(["sh", "-c", version_from_pin], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert pinned == importlib.metadata.version("tensorflow"), "the GPU image would install another TensorFlow"
    cpu_stage = dockerfile[dockerfile.rindex("FROM packages AS cpu") :]
    assert "and-cuda" not in cpu_stage and "and-cuda" not in (ROOT / "requirements.txt").read_text()


@pytest.mark.parametrize("name", [n for n, s in SERVICES.items() if "command" in s and "build" in s])
def test_every_project_command_exists(name):
    argv = SERVICES[name]["command"]
    program = argv[0]
    if program == "python":
        assert argv[1] == "manage.py" and (ROOT / "manage.py").exists()
        from django.core.management import get_commands

        assert argv[2] in get_commands(), f"{name}: manage.py has no command {argv[2]}"
    elif program == "gunicorn":
        module, attribute = argv[1].split(":")
        assert hasattr(importlib.import_module(module), attribute)
    elif program == "celery":
        assert _option(argv, "-A") == "webapp"
        assert importlib.import_module("webapp.celery").app.main == "sightline"
        assert argv[3] in {"worker", "beat", "flower"}
    else:
        pytest.fail(f"{name} runs {program}, which the image does not provide")


def _gunicorn_settings(env: dict) -> dict[str, str]:
    """The settings gunicorn itself reads from webapp/gunicorn.conf.py under ``env``."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--print-config",
            "-c",
            "webapp/gunicorn.conf.py",
            "webapp.wsgi:application",
        ],
        cwd=ROOT,
        env={**os.environ, "SIGHTLINE_DEV": "1", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    pairs = (line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    return {name.strip(): value.strip() for name, value in pairs}


def test_web_and_image_serve_with_the_project_gunicorn_config():
    dockerfile_command = [line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD")]
    for argv in (SERVICES["web"]["command"], yaml.safe_load(dockerfile_command[0].removeprefix("CMD"))):
        assert argv[:2] == ["gunicorn", "webapp.wsgi:application"]
        assert _option(argv, "-c") == "webapp/gunicorn.conf.py"


def test_gunicorn_config_sizes_the_web_tier_from_the_environment():
    defaults = _gunicorn_settings({})
    assert defaults["workers"] == str((os.cpu_count() or 1) + 1)
    # One request at a time per process, none kept alive: requests queue in the kernel's accept queue,
    # first come first served across processes (docs/serving.md).
    assert (defaults["worker_class"], defaults["threads"], defaults["keepalive"]) == ("sync", "1", "0")
    # A sync worker is silent for a whole request: the longest (an archive upload stored) must fit.
    assert defaults["timeout"] == "300"
    assert defaults["bind"] == "['0.0.0.0:8000']"
    tuned = _gunicorn_settings(
        {"SIGHTLINE_WEB_WORKERS": "3", "SIGHTLINE_WEB_THREADS": "8", "SIGHTLINE_WEB_TIMEOUT": "30"}
    )
    assert (tuned["workers"], tuned["threads"], tuned["timeout"]) == ("3", "8", "30")
    # Threads make it a threaded worker that takes no more connections than it has threads.
    assert (tuned["worker_class"], tuned["worker_connections"]) == ("gthread", "8")


def test_gunicorn_config_gives_web_interpreters_the_cores_unless_told(monkeypatch):
    config = (ROOT / "webapp" / "gunicorn.conf.py").read_text()
    # Set first so the test's end restores the variables however the config file changed them.
    for name in ("SIGHTLINE_INTERPRETER_THREADS", "SIGHTLINE_WEB_WORKERS", "SIGHTLINE_WEB_THREADS"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    exec(config, {})  # noqa: S102 - the project's own config file
    assert os.environ["SIGHTLINE_INTERPRETER_THREADS"] == str(max(1, min(os.cpu_count() or 1, 4)))
    # The tier's size goes to the workers too: settings' defaults follow it (webapp.limits_settings).
    assert (os.environ["SIGHTLINE_WEB_WORKERS"], os.environ["SIGHTLINE_WEB_THREADS"]) == (
        str((os.cpu_count() or 1) + 1),
        "1",
    )
    monkeypatch.setenv("SIGHTLINE_INTERPRETER_THREADS", "2")
    exec(config, {})  # noqa: S102
    assert os.environ["SIGHTLINE_INTERPRETER_THREADS"] == "2"


def test_every_routed_queue_has_a_worker():
    consumed = set()
    for service in SERVICES.values():
        argv = service.get("command", [])
        if argv[:1] == ["celery"] and "worker" in argv:
            consumed |= set(_option(argv, "-Q").split(","))
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    # Jobs are sent to the queue their kind registered.
    routed |= {kind.queue for kind in job_kinds()}
    assert {"cpu", "inference", "gpu"} <= routed
    assert routed | {settings.CELERY_TASK_DEFAULT_QUEUE} <= consumed


def test_beat_runs_the_reaper_and_the_orphan_sweep_as_registered_tasks():
    from webapp.celery import app

    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled == {"training_jobs.tasks.reap_jobs", "classifier.tasks.delete_stored_orphans"}
    assert scheduled <= set(app.tasks)


def test_the_inference_worker_runs_several_predictions_at_a_time_apart_from_training():
    argv = SERVICES["worker-inference"]["command"]
    assert _option(argv, "-Q") == "inference"
    assert int(_option(argv, "--concurrency")) > 1
    assert _option(argv, "--prefetch-multiplier") == "1"
    assert "gpu" not in _option(argv, "-Q").split(",")


def test_gpu_worker_runs_one_task_at_a_time_in_a_fresh_child():
    argv = SERVICES["worker-gpu"]["command"]
    assert _option(argv, "--pool") == "prefork"
    assert _option(argv, "--concurrency") == "1"
    assert _option(argv, "--prefetch-multiplier") == "1"
    assert _option(argv, "--max-tasks-per-child") == "1"


def test_worker_parent_never_imports_tensorflow_so_forking_is_safe():
    code = (
        "import django, sys; django.setup(); import training_jobs.tasks, webapp.urls; "
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "webapp.settings", "SIGHTLINE_DEV": "1"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.stdout.strip() == "[]", result.stderr


def test_production_settings_refuse_to_start_without_a_secret_key():
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "SIGHTLINE_DEV", "DEBUG"}}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_check_deploy_is_clean_with_production_settings():
    env = {k: v for k, v in os.environ.items() if k not in {"SIGHTLINE_DEV", "DEBUG"}}
    env.update(
        SECRET_KEY="a-production-secret-key-that-is-long-and-random-enough-1234567890",
        ALLOWED_HOSTS="sightline.example.com",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("workers", "threads", "fetches"), [("3", "1", "1"), ("9", "1", "3"), ("3", "4", "4"), ("1", "1", "1")]
)
def test_sync_url_fetches_at_once_default_to_a_third_of_the_hosts_web_threads(workers, threads, fetches):
    result = subprocess.run(
        [sys.executable, "-c", "from webapp import settings; print(settings.SIGHTLINE_URL_FETCH_SYNC_CONCURRENCY)"],
        cwd=ROOT,
        env={
            **{name: value for name, value in os.environ.items() if name != "SIGHTLINE_URL_FETCH_SYNC_CONCURRENCY"},
            "SIGHTLINE_DEV": "1",
            "SIGHTLINE_WEB_WORKERS": workers,
            "SIGHTLINE_WEB_THREADS": threads,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == fetches
