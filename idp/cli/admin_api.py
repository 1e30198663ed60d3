"""``idp admin-api grant|revoke|list``: the operator decides which clients may use the administration API.

The ``idp:admin`` scope is never registrable (not through the portal, dynamic registration or the API
itself): only this command, run by someone with access to the servers, grants it.  Errors end with a
one-line message and exit code 2, never a traceback.
"""

from __future__ import annotations

import getpass

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from idp.consoles import admin
from idp.extensions import db
from idp.models import Client
from idp.oauth.clients import ADMIN_SCOPE


def _client(client_id: str) -> Client:
    found = admin.get_client(client_id)
    if found is None:
        raise click.UsageError(f"no client with id {client_id!r}")
    return found


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"[:64]
    except (KeyError, OSError):  # no user name in a container without /etc/passwd entry
        return "cli"


@click.group("admin-api")
def admin_api_group() -> None:
    """Grant or revoke the administration API's scope (idp:admin) for automation clients."""


@admin_api_group.command("grant")
@click.argument("client_id")
@with_appcontext
def grant_command(client_id: str) -> None:
    """Let CLIENT_ID (confidential, with the client_credentials grant) obtain idp:admin."""
    client = _client(client_id)
    try:
        changed = admin.grant_admin_api(client, by=_operator())
    except admin.NotAutomation:
        raise click.UsageError(f"client {client_id!r} must be confidential and registered for the "
                               "client_credentials grant") from None
    db.session.commit()
    click.echo(f"{client_id}: {'may now obtain' if changed else 'already had'} the {ADMIN_SCOPE} scope "
               "(client credentials grant, scope=idp:admin)")


@admin_api_group.command("revoke")
@click.argument("client_id")
@with_appcontext
def revoke_command(client_id: str) -> None:
    """Take idp:admin away from CLIENT_ID (its tokens stop working within IDP_CLIENT_CACHE_SECONDS)."""
    changed = admin.revoke_admin_api(_client(client_id), by=_operator())
    db.session.commit()
    click.echo(f"{client_id}: {'revoked' if changed else 'did not have'} the {ADMIN_SCOPE} scope")


@admin_api_group.command("list")
@with_appcontext
def list_command() -> None:
    """The clients that may use the administration API."""
    for client in db.session.execute(select(Client).order_by(Client.id)).scalars():
        if ADMIN_SCOPE in (client.approved_scopes or "").split():
            click.echo(f"{client.client_id}\t{admin.client_name(client)}\t{'disabled' if client.disabled else ''}")


commands = [admin_api_group]
