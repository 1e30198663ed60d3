"""Wiring of Authlib's authorization server: grants, endpoints and client authentication methods.

Each protocol feature lives in its own module under :mod:`idp.oauth` and exposes
``register(server)``; :data:`FEATURE_MODULES` lists them in the order they are wired.  The server is
kept per application in ``state(app).extra["oauth_server"]``.
"""

from __future__ import annotations

import os
from collections import defaultdict
from importlib import import_module
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload, FlaskOAuth2Request
from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request
from authlib.oauth2.rfc6749.authenticate_client import ClientAuthentication
from flask import Flask
from flask import request as flask_request
from werkzeug.datastructures import MultiDict

from idp.extensions import state
from idp.oauth import clients, tokens

# Modules exposing ``register(server: Server) -> None``.
FEATURE_MODULES: tuple[str, ...] = (
    "idp.oauth.grants",
    "idp.oauth.logout",
    "idp.oauth.client_auth",
    "idp.oauth.refresh",
    "idp.oauth.client_credentials",
    "idp.oauth.revocation",
    "idp.oauth.introspection",
)


class Server(AuthorizationServer):
    """The provider's authorization server (Authlib), bound to one Flask app."""

    def __init__(self, app: Flask) -> None:
        # What the feature modules registered, in order: the one source of the grant types and token
        # endpoint authentication methods that registration accepts and discovery announces.
        self.grant_types: list[str] = []
        self.token_auth_methods: list[str] = []
        super().__init__()
        self.app = app
        self._query_client = clients.query_client
        self._save_token = tokens.save_token
        self.init_app(app)

    def register_grant(self, grant_cls: Any, extensions: Any = None) -> None:
        """Register a grant (Authlib) and remember its grant type and token endpoint auth methods."""
        super().register_grant(grant_cls, extensions)
        if hasattr(grant_cls, "check_token_endpoint") and grant_cls.GRANT_TYPE:
            if grant_cls.GRANT_TYPE not in self.grant_types:
                self.grant_types.append(grant_cls.GRANT_TYPE)
            for method in grant_cls.TOKEN_ENDPOINT_AUTH_METHODS:
                if method not in self.token_auth_methods:
                    self.token_auth_methods.append(method)

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        """A request built by the views (stored authorization parameters) is used as it is."""
        if isinstance(request, OAuth2Request):
            return request
        # The request object itself, not Flask's context-local proxy: Authlib reads it a few dozen times
        # per token request, and each read through the proxy is a context lookup (bench/FINDINGS.md).
        return _FlaskRequest(flask_request._get_current_object())  # type: ignore[attr-defined]

    def authenticate_client(self, request: Any, methods: list[str], endpoint: str = "token") -> Any:
        """Try only the methods some feature registered (``private_key_jwt`` comes from its module)."""
        auth: Any = getattr(self, "_client_auth", None)
        if auth is None:
            auth = self._client_auth = ClientAuthentication(self.query_client)
        known = [m for m in methods if m in auth._methods]
        return auth(request, known, endpoint)


def request_uri(request: Any = flask_request) -> str:
    """This request's URL under the configured issuer.

    Authlib refuses non-https request URLs (InsecureTransportError); behind a TLS-terminating proxy
    the WSGI URL may say http even though clients used https, so the issuer (validated at start-up:
    https, or http on loopback / with IDP_ALLOW_INSECURE_HTTP) is what counts.
    """
    issuer = state().config["ISSUER"]
    query = request.query_string.decode("latin-1")
    return issuer + request.path + ("?" + query if query else "")


class _FlaskRequest(FlaskOAuth2Request):
    def __init__(self, request: Any) -> None:
        OAuth2Request.__init__(self, method=request.method, uri=request_uri(request), headers=request.headers)
        self._request = request
        self.payload = FlaskOAuth2Payload(request)


class _ParamsPayload(OAuth2Payload):
    def __init__(self, params: MultiDict[str, str]) -> None:
        self._params = params

    @property
    def data(self) -> MultiDict[str, str]:
        return self._params

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        values: defaultdict[str, list[str]] = defaultdict(list)
        for key in self._params:
            values[key].extend(self._params.getlist(key))
        return values


class ParamsRequest(OAuth2Request):
    """An OAuth request over given parameters (a fresh request's, or ones stored across sign-in)."""

    def __init__(self, params: MultiDict[str, str]) -> None:
        super().__init__(method=flask_request.method, uri=request_uri(), headers=flask_request.headers)
        self._params = params
        self.payload = _ParamsPayload(params)
        self.confirmed = False

    @property
    def args(self) -> MultiDict[str, str]:
        return self._params

    @property
    def form(self) -> MultiDict[str, str]:
        return self._params


def init_app(app: Flask) -> Server:
    """Create the server for ``app`` and let every feature module register itself."""
    if state(app).config["ALLOW_INSECURE_HTTP"]:
        # DEVELOPMENT ONLY (the setting's own rule): an http issuer outside loopback.
        os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"
    server = Server(app)
    for name in FEATURE_MODULES:
        import_module(name).register(server)
    state(app).extra["oauth_server"] = server
    tokens.init_app(app)  # revokes tokens when people's sessions end or a person's tokens must go
    return server


def get_server() -> Any:
    """The authorization server of the current app."""
    return state().extra["oauth_server"]


def grant_types() -> tuple[str, ...]:
    """The grant types the token endpoint serves (registration accepts them, discovery lists them)."""
    return tuple(get_server().grant_types)


def token_auth_methods() -> tuple[str, ...]:
    """The client authentication methods some token endpoint grant accepts."""
    return tuple(get_server().token_auth_methods)
