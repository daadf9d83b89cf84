"""The public edge without servers: only the proxy publishes a port, compose renders every template
variable, Flower allows no other way in, and ``check --deploy`` is clean with the web environment."""

import os
import runpy
import subprocess
import sys

import pytest

from tests.webapp.proxy_support import COMPOSE_TLS, FLOWER_CREDENTIALS, NGINX_DIR, ROOT, SERVICES, TEMPLATE_VARIABLE

# Without servers


def test_only_the_proxy_publishes_a_port():
    assert [name for name, service in SERVICES.items() if "ports" in service] == ["proxy"]
    assert SERVICES["proxy"]["ports"] == ["80:80"]
    assert COMPOSE_TLS["services"]["proxy"]["ports"] == ["443:443"]
    assert SERVICES["web"]["expose"] == ["8000"]
    assert SERVICES["flower"]["expose"] == ["5555"]


def test_compose_renders_every_template_variable_and_mounts_the_tested_files():
    proxy, tls = SERVICES["proxy"], COMPOSE_TLS["services"]["proxy"]
    assert proxy["environment"]["NGINX_ENVSUBST_FILTER"] == "^SIGHTLINE_"
    templates = {"sightline.conf.template": proxy, "sightline-https.conf.template": tls}
    for template, service in templates.items():
        provided = {**proxy["environment"], **service["environment"]}
        assert set(TEMPLATE_VARIABLE.findall((NGINX_DIR / template).read_text())) <= set(provided), template
        assert any(
            volume.startswith(f"./deploy/nginx/{template}:/etc/nginx/templates/") for volume in service["volumes"]
        )
    assert "./deploy/nginx/sightline-locations.conf:/etc/nginx/sightline-locations.conf:ro" in proxy["volumes"]


@pytest.mark.parametrize(
    "value",
    [
        "",
        "operator",
        "operator:",
        ":a-long-operator-password",
        "operator:short",
        "ok:a-long-operator-password,x:y",
        "operator:change-me-to-a-long-random-password",
    ],
)
def test_flower_refuses_to_start_without_real_basic_auth(value, monkeypatch):
    monkeypatch.setenv("FLOWER_BASIC_AUTH", value)
    with pytest.raises(SystemExit, match="FLOWER_BASIC_AUTH"):
        runpy.run_path(str(ROOT / "deploy" / "flowerconfig.py"))


def test_flower_config_allows_no_other_way_in():
    environment = {
        **os.environ,
        "SIGHTLINE_DEV": "1",
        "FLOWER_BASIC_AUTH": ":".join(FLOWER_CREDENTIALS),
        "FLOWER_AUTH": ".*@example\\.com",
    }
    # Flower reads its environment, then the config file: what the file sets wins.
    code = (
        "from flower.command import apply_env_options, apply_options; from tornado.options import options; "
        "apply_env_options(); apply_options('flower', ['--conf=deploy/flowerconfig.py']); "
        "print(options.basic_auth, repr(options.auth), options.url_prefix)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.split() == ["['operator:a-long-operator-password']", "''", "flower"], result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "celery", *SERVICES["flower"]["command"][1:]],
        cwd=ROOT,
        env={**environment, "FLOWER_BASIC_AUTH": "", "CELERY_BROKER_URL": "memory://"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "FLOWER_BASIC_AUTH is not set" in result.stderr


def test_check_deploy_is_clean_with_the_compose_web_environment():
    example = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            example[name] = value
    environment = {k: v for k, v in os.environ.items() if k not in {"SIGHTLINE_DEV", "DEBUG"}}
    environment.update(example)
    environment.update(SERVICES["web"]["environment"])
    environment["SECRET_KEY"] = "a-production-secret-key-that-is-long-and-random-enough-1234567890"
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
