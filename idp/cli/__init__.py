"""Operator commands: ``idp db upgrade``, ``idp clients ...``, ``idp keys ...``, ``idp demo``, ``idp run``,
``idp serve`` (production).

Commands build the app with the embedded store closed (``open_store=False``): most of them touch only the
database, and must run while ``make run`` serves the same instance.  ``idp run`` opens it before serving;
a command that needs short-lived state the embedded store keeps inside another process ends with one line
saying why and what to do (:class:`Group`), never a traceback.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

import click
from flask import Flask
from flask.cli import FlaskGroup, ScriptInfo
from flask.cli import run_command as flask_run_command

from idp.cli.serve import serve as serve_command
from idp.extensions import state
from idp.store.memory import CLI_MESSAGE, MultiProcessError

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
    "idp.cli.backup",
    "idp.cli.admin_api",
    "idp.cli.grants",
    "idp.cli.policies",
    "idp.cli.registry",
)

SERVING_MESSAGE = (
    "another provider process already serves {instance} with the embedded store (no IDP_REDIS_URL), which "
    "cannot be shared: stop that process first, or set IDP_REDIS_URL to run several"
)


def register_commands(app: Flask) -> None:
    for name in COMMAND_MODULES:
        for command in import_module(name).commands:
            app.cli.add_command(command)


def _create_app() -> Flask:
    from idp import create_app  # create_app imports this module (register_commands): a real cycle

    return create_app(open_store=False)


def _instance(ctx: click.Context) -> str:
    app = ctx.ensure_object(ScriptInfo).load_app()
    return str(state(app).config["INSTANCE_DIR"])


class Group(FlaskGroup):
    """The ``idp`` command: the embedded store refusing a second process becomes one clear line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MultiProcessError:
            raise click.ClickException(CLI_MESSAGE.format(instance=_instance(ctx))) from None


def _run(**kwargs: Any) -> None:
    ctx = click.get_current_context()
    app = ctx.ensure_object(ScriptInfo).load_app()  # cached: flask's run serves this very app
    try:
        state(app).store.open()  # the serving process holds the embedded store from the start
    except MultiProcessError:
        raise click.ClickException(SERVING_MESSAGE.format(instance=_instance(ctx))) from None
    ctx.invoke(flask_run_command, **kwargs)


run_command = click.Command("run", params=flask_run_command.params, callback=_run,
                            help=flask_run_command.help, short_help=flask_run_command.short_help)


@click.group(cls=Group, create_app=_create_app, add_version_option=False,
             load_dotenv=False, set_debug_flag=False)
def main() -> None:
    """Banten SSO identity provider."""


main.add_command(run_command)
main.add_command(serve_command)  # on the group itself: serving must not build the app in this process
