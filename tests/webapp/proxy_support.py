"""The compose files and nginx templates the proxy tests read, and how nginx's image renders them."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
NGINX_DIR = ROOT / "deploy" / "nginx"
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
COMPOSE_TLS = yaml.safe_load((ROOT / "docker-compose.tls.yml").read_text())
SERVICES = COMPOSE["services"]
# What the nginx image's entrypoint replaces (NGINX_ENVSUBST_FILTER "^SIGHTLINE_"): ${NAME} only.
TEMPLATE_VARIABLE = re.compile(r"\$\{(SIGHTLINE_[A-Z_]+)\}")
FLOWER_CREDENTIALS = ("operator", "a-long-operator-password")
