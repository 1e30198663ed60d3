"""The framework ceiling: a bare Flask JSON endpoint, served by gunicorn exactly like the provider.

Every workload of ``bench/run.py`` is also reported as a fraction of this app's requests per
CPU-second, so results compare across machines and show how much of the cost is the provider's own.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify

app = Flask(__name__)


@app.get("/ping")
def ping() -> Response:
    """A small JSON answer with no work behind it."""
    return jsonify(status="ok")
