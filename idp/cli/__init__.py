"""Operator commands: ``idp db upgrade``, ``idp clients ...``, ``idp keys ...``, ``idp demo``, ``idp run``."""

from __future__ import annotations

from importlib import import_module

import click
from flask import Flask
from flask.cli import FlaskGroup

# Modules that expose ``commands``: a list of click commands/groups to add to the ``idp`` command.
COMMAND_MODULES = (
    "idp.cli.config",
    "idp.cli.keys",
    "idp.cli.clients",
    "idp.cli.ldap",
    "idp.cli.demo",
    "idp.cli.logout",
    "idp.cli.audit",
    "idp.cli.sessions",
    "idp.cli.citizens",
)


def register_commands(app: Flask) -> None:
    for name in COMMAND_MODULES:
        for command in import_module(name).commands:
            app.cli.add_command(command)


def _create_app() -> Flask:
    from idp import create_app  # create_app imports this module (register_commands): a real cycle

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False,
             load_dotenv=False, set_debug_flag=False)
def main() -> None:
    """Banten SSO identity provider."""
