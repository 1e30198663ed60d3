"""Thin blueprints: a page parses its form, calls one domain function and renders; the work happens in
the layers below (``people``, ``oauth``, ``consoles``).

A new page goes into the module (or package) of its area, uses :mod:`idp.web.common` (``page``,
``requires``) and :mod:`idp.web.forms`, and its templates go to ``templates/<area>/``; a new area is one
more entry in ``BLUEPRINT_MODULES``.
"""

from __future__ import annotations

from importlib import import_module

from flask import Flask

# Each module exposes ``bp``; order matters only for readability.
BLUEPRINT_MODULES = (
    "idp.web.health",
    "idp.web.auth",
    "idp.web.linking",
    "idp.web.account",
    "idp.web.phone",
    "idp.web.mfa",
    "idp.web.passkeys",
    "idp.web.portal",
    "idp.web.admin",
    "idp.web.officer",
    "idp.web.oauth",
    "idp.web.clients_api",
    "idp.web.admin_api",
)


def register_blueprints(app: Flask) -> None:
    for name in BLUEPRINT_MODULES:
        app.register_blueprint(import_module(name).bp)
