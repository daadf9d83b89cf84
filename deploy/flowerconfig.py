"""Flower's settings in docker-compose.yml (``celery -A webapp flower --conf=deploy/flowerconfig.py``):
basic auth from FLOWER_BASIC_AUTH or no start at all, under /flower/ behind the proxy.

Flower reads this file after its FLOWER_* environment variables, so what is set here wins over them.
"""

import os

MIN_PASSWORD_LENGTH = 12


def basic_auth_credentials(value: str) -> list[str]:
    """The ``user:password`` pairs in ``value`` (comma-separated, as Flower reads it), or SystemExit
    saying what is wrong: Flower shows task arguments and can shut workers down, so it never runs open."""
    pairs = [pair.strip() for pair in value.split(",") if pair.strip()]
    if not pairs:
        raise SystemExit(
            "FLOWER_BASIC_AUTH is not set: Flower refuses to start without basic auth. "
            'Set it in .env as "user:password" (docs/public-instance.md).'
        )
    for pair in pairs:
        user, _, password = pair.partition(":")
        if not user or len(password) < MIN_PASSWORD_LENGTH or password.startswith("change-me"):
            raise SystemExit(
                f'FLOWER_BASIC_AUTH must read "user:password", with a password of at least '
                f"{MIN_PASSWORD_LENGTH} characters that is not .env.example's; one entry does not."
            )
    return pairs


basic_auth = basic_auth_credentials(os.environ.get("FLOWER_BASIC_AUTH", ""))
# No other way in: an OAuth provider (FLOWER_AUTH) would be a second door nobody configured here.
auth = ""
auth_provider = None
url_prefix = "flower"
address = "0.0.0.0"  # noqa: S104 - the compose network only: the service publishes no port
port = 5555
# The proxy's X-Forwarded-For is the client's address in Flower's logs.
xheaders = True
