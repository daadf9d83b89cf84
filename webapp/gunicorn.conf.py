"""The production web server's settings (gunicorn -c webapp/gunicorn.conf.py), from the environment.

Sized for the predict endpoint, the busiest one: each request spends most of its time in a LiteRT
interpreter call that releases the GIL but takes its version's lock (one interpreter per version per
process). So one process per core runs the interpreters in parallel, and a few threads per process
overlap the Python work of a request (upload parsing, the history row, JSON) with another one's
interpreter call. Measured with bench/load.py; see docs/serving.md.
"""

import os

from webapp.env import env_int, env_str

bind = env_str("SIGHTLINE_WEB_BIND", "0.0.0.0:8000")
# One per core: more processes than cores only adds interpreters (memory) that compete for the same cores.
workers = env_int("SIGHTLINE_WEB_WORKERS", max(1, os.cpu_count() or 1))
# gthread keeps client connections alive between requests, so an API client does not pay a TCP
# handshake per image; 4 threads cover one request in the interpreter and a few in Python around it.
worker_class = "gthread"
threads = env_int("SIGHTLINE_WEB_THREADS", 4)
# Connections beyond the threads wait in the accept queue rather than being refused.
backlog = env_int("SIGHTLINE_WEB_BACKLOG", 2048)
worker_connections = env_int("SIGHTLINE_WEB_CONNECTIONS", 1000)
keepalive = env_int("SIGHTLINE_WEB_KEEPALIVE", 5)
# A predict request takes milliseconds; a worker silent for this long is stuck and is restarted.
timeout = env_int("SIGHTLINE_WEB_TIMEOUT", 60)
graceful_timeout = env_int("SIGHTLINE_WEB_GRACEFUL_TIMEOUT", 30)
loglevel = env_str("SIGHTLINE_WEB_LOG_LEVEL", "info")
accesslog = env_str("SIGHTLINE_WEB_ACCESS_LOG", "") or None

# The web tier's interpreters run one thread each unless the environment says otherwise: under load every
# core already runs another worker's call, and a second thread per call only competes with it (measured:
# docs/serving.md). Exported before the workers load Django and the models (classifier.ml.predictor).
INTERPRETER_THREADS = env_int("SIGHTLINE_INTERPRETER_THREADS", 1)
os.environ["SIGHTLINE_INTERPRETER_THREADS"] = str(INTERPRETER_THREADS)
