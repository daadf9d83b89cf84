"""The production web server's settings (gunicorn -c webapp/gunicorn.conf.py), from the environment.

Sized for the predict endpoint, the busiest one: each request spends most of its time in a LiteRT
interpreter call that releases the GIL but takes its version's lock (one interpreter per version per
process). Measured with bench/load.py (50 clients); see docs/serving.md, "The server".
"""

import os

from webapp.env import env_int, env_str

bind = env_str("SIGHTLINE_WEB_BIND", "0.0.0.0:8000")
# One process per core and one more: while a process's request waits on the database or runs Python under
# its GIL, another process's interpreter call keeps the cores busy. One per core left a core idle often
# enough to cost 12% of the requests/s; each process holds its own interpreters (memory).
workers = env_int("SIGHTLINE_WEB_WORKERS", (os.cpu_count() or 1) + 1)
worker_class = env_str("SIGHTLINE_WEB_WORKER_CLASS", "gthread")
# Two threads: one request in the interpreter while another parses its upload or writes its history row.
threads = env_int("SIGHTLINE_WEB_THREADS", 2)
# A process takes no more connections than it has threads, so requests beyond them wait in the kernel's
# accept queue, which every process takes from in turn: first come, first served across processes. A
# process that accepted whatever arrived queued it behind its own backlog while another process sat idle,
# and a client's latency depended on which process it reached (p99 twice the p50).
worker_connections = env_int("SIGHTLINE_WEB_CONNECTIONS", threads)
# No keep-alive, for the same reason: a kept connection stays with one process. Behind nginx (the only
# published port) nothing is lost: nginx keeps the client's connection, and opens one to gunicorn per
# request anyway (proxy_pass to a variable keeps no upstream pool).
keepalive = env_int("SIGHTLINE_WEB_KEEPALIVE", 0)
backlog = env_int("SIGHTLINE_WEB_BACKLOG", 2048)
# A predict request takes milliseconds; a worker silent for this long is stuck and is restarted.
timeout = env_int("SIGHTLINE_WEB_TIMEOUT", 60)
graceful_timeout = env_int("SIGHTLINE_WEB_GRACEFUL_TIMEOUT", 30)
loglevel = env_str("SIGHTLINE_WEB_LOG_LEVEL", "info")
accesslog = env_str("SIGHTLINE_WEB_ACCESS_LOG", "") or None

# The web tier's interpreters use the cores (up to 4) unless the environment says otherwise: a request
# alone on the machine gets its answer in half the time with two threads, and under load the extra thread
# cost nothing measurable (requests/s and CPU per request within noise; docs/serving.md). Exported before
# the workers load Django and the models (classifier.ml.predictor).
INTERPRETER_THREADS = env_int("SIGHTLINE_INTERPRETER_THREADS", max(1, min(os.cpu_count() or 1, 4)))
os.environ["SIGHTLINE_INTERPRETER_THREADS"] = str(INTERPRETER_THREADS)
