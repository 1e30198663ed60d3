"""Wiring of Authlib's authorization server: grants, endpoints and client authentication methods.

Each protocol feature lives in its own module under :mod:`idp.oauth` and exposes
``register(server)``; :data:`FEATURE_MODULES` lists them in the order they are wired.  The server is
kept per application in ``app.extensions["idp"].extra["oauth_server"]``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from flask import Flask, current_app

# Modules exposing ``register(server: Server) -> None``.
FEATURE_MODULES: tuple[str, ...] = ()


class Server(AuthorizationServer):
    """The provider's authorization server (Authlib), bound to one Flask app."""

    def __init__(self, app: Flask) -> None:
        from . import clients, tokens

        super().__init__()
        self.app = app
        self._query_client = clients.query_client
        self._save_token = tokens.save_token
        self.init_app(app)


def init_app(app: Flask) -> Server:
    """Create the server for ``app`` and let every feature module register itself."""
    server = Server(app)
    for name in FEATURE_MODULES:
        import_module(name).register(server)
    app.extensions["idp"].extra["oauth_server"] = server
    return server


def get_server() -> Any:
    """The authorization server of the current app."""
    return current_app.extensions["idp"].extra["oauth_server"]
