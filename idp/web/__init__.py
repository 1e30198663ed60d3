"""Thin blueprints; the work happens in the layers below."""

from __future__ import annotations

from importlib import import_module

from flask import Flask

# Each module exposes ``bp``; order matters only for readability.
BLUEPRINT_MODULES = (
    "idp.web.health",
    "idp.web.auth",
    "idp.web.linking",
    "idp.web.account",
    "idp.web.mfa",
    "idp.web.portal",
    "idp.web.admin",
    "idp.web.oauth",
    "idp.web.clients_api",
)


def register_blueprints(app: Flask) -> None:
    for name in BLUEPRINT_MODULES:
        app.register_blueprint(import_module(name).bp)
