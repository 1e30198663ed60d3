"""Production gunicorn settings for the provider.

    gunicorn -c gunicorn.conf.py 'idp:create_app()'

Command-line options override these (``-w 4``, ``-b 0.0.0.0:8000``).  Environment:

- ``GUNICORN_BIND`` (default ``127.0.0.1:8000``; a TLS-terminating proxy sits in front),
- ``WEB_CONCURRENCY`` worker processes (default: one per CPU this process may run on),
- ``GUNICORN_THREADS`` threads per worker (default 4), ``GUNICORN_TIMEOUT`` seconds (default 30),
- ``PROMETHEUS_MULTIPROC_DIR``: where the workers keep their metric values (default: a new temporary
  folder, removed at exit).  It is emptied at start, as prometheus-client requires between runs.

Choices, and why:

- ``gthread`` workers: a sign-in waits on the directory (LDAP binds, up to the connector's receive
  timeout on a hung server), on PostgreSQL and Redis, and argon2 runs with the GIL released; with a few
  threads per process a slow directory does not stall the citizens served by the same worker.
- ``preload_app`` stays off: the app is built in each worker, so nothing opened while building it (the
  in-process store's single-process lock, database or Redis connections, the LDAP connection pool) is
  shared across a fork.  The back-channel delivery thread starts lazily in each worker either way.
- No ``max_requests``: every new worker process leaves its own metric files behind (counters of dead
  workers must still be added up), so recycling workers would grow that folder without bound.
- No gunicorn access log: the app writes one per request (logger ``idp.access``) with the request id
  when ``IDP_LOG_FORMAT=json``; gunicorn's own messages are then JSON too.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from typing import Any

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY") or len(os.sched_getaffinity(0)) or 1)
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS") or 4)
timeout = int(os.environ.get("GUNICORN_TIMEOUT") or 30)
graceful_timeout = 30
keepalive = 5  # seconds; below the usual 60 s idle timeout of the load balancer in front
preload_app = False
accesslog = None
errorlog = "-"
loglevel = os.environ.get("IDP_LOG_LEVEL", "info").lower()
proc_name = "idp"

# --- Prometheus multi-process mode -------------------------------------------------------------------
# Set before any worker exists (and so before any worker imports prometheus_client), inherited at fork.
# The folder made here is remembered in the environment too: a reload (HUP) runs this file again.
_MADE_HERE = "GUNICORN_IDP_METRICS_TMPDIR"
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.environ[_MADE_HERE] = tempfile.mkdtemp(prefix="idp-metrics-")


def on_starting(server: Any) -> None:
    """Empty the metrics folder: values of a previous run must not be added to this one's."""
    path = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(path, exist_ok=True)
    for name in glob.glob(os.path.join(path, "*.db")):
        os.remove(name)


def child_exit(server: Any, worker: Any) -> None:
    """Tell prometheus-client a worker is gone (its live gauges stop counting; its counters stay)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    """Remove the metrics folder when this file made it."""
    made = os.environ.get(_MADE_HERE)
    if made and made == os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        shutil.rmtree(made, ignore_errors=True)


# --- gunicorn's own messages as JSON lines when the app logs JSON --------------------------------------
if os.environ.get("IDP_LOG_FORMAT", "").lower() == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": "WARNING", "handlers": []},  # the app installs its own handler on the root logger
        "loggers": {
            "gunicorn.error": {"level": loglevel.upper(), "handlers": ["json"], "propagate": False,
                               "qualname": "gunicorn.error"},
            "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False,
                                "qualname": "gunicorn.access"},
        },
        "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "formatters": {"json": {"()": "idp.logs.JsonFormatter"}},
    }
