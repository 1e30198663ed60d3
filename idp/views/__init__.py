"""Thin blueprints; the work happens in the layers below."""

from __future__ import annotations

from importlib import import_module

from flask import Flask

# Each module exposes ``bp``; order matters only for readability.
BLUEPRINT_MODULES = (
    "idp.views.health",
    "idp.views.auth",
    "idp.views.linking",
    "idp.views.account",
    "idp.views.mfa",
    "idp.views.portal",
    "idp.views.admin",
    "idp.views.oauth",
    "idp.views.clients_api",
)


def register_blueprints(app: Flask) -> None:
    for name in BLUEPRINT_MODULES:
        app.register_blueprint(import_module(name).bp)
