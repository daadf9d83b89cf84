"""The settings every other part builds on: where the code and this host's runtime data are, and
whether this is a debug or development run."""

from pathlib import Path

from webapp.env import env_bool, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
# Runtime data of the embedded defaults (SQLite file, media, broker folders); ignored by git.
VAR_DIR = Path(env_str("SIGHTLINE_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
# A development run on one machine: insecure-but-convenient defaults (fixed key, plain HTTP).
DEV = env_bool("SIGHTLINE_DEV", False)
