"""``idp serve``: the production HTTP server (Granian's WSGI workers) with the provider's settings.

Why Granian and not gunicorn's gthread workers: the benchmark (bench/FINDINGS.md, issue 20) put most of the
CPU of a small request in gunicorn's Python HTTP handling (the response write and the per-request pipe
write that hands a keep-alive connection back to the main loop).  Granian parses HTTP and keeps
connections in Rust (hyper) and runs the WSGI app in a pool of Python threads, which costs a fraction
of that per request; the app is unchanged.  ``gunicorn.conf.py`` still works (README).

The command prepares what must exist before any worker imports the app, then replaces itself with
``python -m granian`` (``exec``), so the master process never imports the provider:

- ``PROMETHEUS_MULTIPROC_DIR``: where the workers keep their metric values (default: a new temporary
  folder).  It is emptied first: prometheus-client requires it between runs.  Each worker, respawned
  ones included, writes its own files; the counters of a dead worker still count.
- The settings, read and validated once here (a mistake is one line before any worker starts); the
  store they choose must be shared (Redis) when there is more than one worker.
- JSON logs (``IDP_LOG_FORMAT=json``): Granian's own messages in the provider's JSON line format.

Settings (options, or their environment variables): ``--bind`` (``IDP_SERVE_BIND``, default
``127.0.0.1:8000``; a TLS-terminating proxy sits in front), ``--workers`` (``WEB_CONCURRENCY``, default one
per CPU this process may run on), ``--threads`` (``IDP_SERVE_THREADS``, default 4: a sign-in waits on the
directory, PostgreSQL and Redis, and argon2 releases the GIL, so a slow directory does not stall the
other requests of a worker).  A worker that dies is replaced; requests keep the connection (HTTP/1.1
keep-alive); the app writes the access log (``idp.access``), Granian none.
"""

from __future__ import annotations

import glob
import json
import os
import sys
import tempfile
from typing import Any

import click

from idp import config, store

DEFAULT_BIND = "127.0.0.1:8000"
TARGET = "idp:create_app"


def parse_bind(value: str) -> tuple[str, int]:
    """``host:port`` (IPv6 in brackets) as a pair; a clear error for anything else."""
    host, sep, port = value.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"expected HOST:PORT, got {value!r} / diharapkan HOST:PORT")
    return host, int(port)


def metrics_folder() -> str:
    """The multi-process metrics folder (made when unset), emptied of an earlier run's values."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="idp-metrics-")
    os.makedirs(path, exist_ok=True)
    for name in glob.glob(os.path.join(path, "*.db")):
        os.remove(name)
    return path


def json_log_config(folder: str, level: str) -> str:
    """A logging configuration file that writes Granian's messages as the provider's JSON lines."""
    config: dict[str, Any] = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "idp.logs.JsonFormatter"}},
        "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "loggers": {"_granian": {"level": level.upper(), "handlers": ["json"], "propagate": False},
                    "granian.access": {"level": "WARNING", "handlers": [], "propagate": False}},
    }
    path = os.path.join(folder, "granian-logging.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(config, handle)
    return path


def command_line(host: str, port: int, workers: int, threads: int, log_config: str | None,
                 level: str, target: str = TARGET) -> list[str]:
    """The ``python -m granian`` command that serves ``target`` (the provider's app factory by default;
    the benchmark serves its bare-Flask ceiling app with the same command)."""
    args = [sys.executable, "-m", "granian", "--interface", "wsgi", *(["--factory"] if target == TARGET else []),
            "--host", host, "--port", str(port), "--workers", str(workers),
            "--blocking-threads", str(threads), "--runtime-threads", "1",
            "--respawn-failed-workers", "--no-access-log", "--log-level", level,
            "--workers-kill-timeout", "30"]
    if log_config:
        args += ["--log-config", log_config]
    return [*args, target]


@click.command("serve")
@click.option("--bind", envvar="IDP_SERVE_BIND", default=DEFAULT_BIND, show_default=True,
              help="HOST:PORT to listen on (IDP_SERVE_BIND).")
@click.option("--workers", envvar="WEB_CONCURRENCY", type=click.IntRange(1, 256), default=None,
              help="Worker processes (WEB_CONCURRENCY); default: one per CPU.")
@click.option("--threads", envvar="IDP_SERVE_THREADS", type=click.IntRange(1, 256), default=4, show_default=True,
              help="Threads per worker (IDP_SERVE_THREADS).")
def serve(bind: str, workers: int | None, threads: int) -> None:
    """Serve the provider in production (Granian WSGI workers; README "Production")."""
    host, port = parse_bind(bind)
    count = workers or len(os.sched_getaffinity(0)) or 1
    try:
        cfg = config.load()  # the workers read the same settings: a mistake is one line here, before any starts
    except config.ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if count > 1 and not store.shared(cfg):
        raise click.UsageError(
            f"{count} workers need a shared store: set IDP_REDIS_URL, or run --workers 1 (the in-process store "
            f"cannot be shared) / {count} worker memerlukan penyimpanan bersama: setel IDP_REDIS_URL, atau "
            "jalankan --workers 1")
    folder = metrics_folder()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    level = str(cfg["LOG_LEVEL"]).lower()  # validated by the settings table
    level = level if level in ("critical", "error", "warning", "info", "debug") else "info"
    log_config = json_log_config(folder, level) if cfg["LOG_FORMAT"] == "json" else None
    # glibc gives each thread that allocates its own malloc arena; with Granian's runtime threads and the
    # app's threads that grew a worker's resident memory by about 20 MiB under sign-in load (make bench).
    os.environ.setdefault("MALLOC_ARENA_MAX", "2")
    args = command_line(host, port, count, threads, log_config, level)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(args[0], args)  # noqa: S606 - fixed arguments; the master imports nothing of the provider

