"""``idp export`` / ``idp import``: clients, approvals, signing keys and settings as one JSON document.

The document (:mod:`idp.consoles.backup`) carries secrets only in protected form (keyed hashes, private
keys encrypted under ``IDP_DATA_KEYS``), but it is still written readable by its owner only.  A document
that cannot be imported ends with one line saying why, and nothing is imported.
"""

from __future__ import annotations

import json
import os
from typing import Any

import click
from flask.cli import with_appcontext

from idp.consoles import backup
from idp.extensions import db


@click.command("export")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True),
              help="Write the document to this file (mode 0600) instead of standard output.")
@with_appcontext
def export_command(output: str | None) -> None:
    """Write clients, approvals, signing keys (still encrypted) and settings as a JSON document."""

    document = backup.export_document()
    text = json.dumps(document, indent=2, sort_keys=True, default=str) + "\n"
    db.session.commit()  # the audit event of the export
    if output is None:
        click.echo(text, nl=False)
        return
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    click.echo(f"exported {len(document['clients'])} clients, {len(document['scope_requests'])} scope requests "
               f"and {len(document['signing_keys'])} signing keys to {output}", err=True)


@click.command("import")
@click.argument("source", type=click.File("r"))
@with_appcontext
def import_command(source: Any) -> None:
    """Add or update what a document from `idp export` holds; running it again changes nothing."""

    try:
        document = json.load(source)
    except (ValueError, UnicodeDecodeError):
        raise click.ClickException("the file is not JSON: give a document written by `idp export`") from None
    try:
        result = backup.import_document(document)
    except backup.BackupError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    except (KeyError, TypeError, ValueError) as exc:
        db.session.rollback()
        raise click.ClickException(f"the document is damaged ({exc.__class__.__name__}: {exc}); nothing was "
                                   "imported") from None
    click.echo(f"clients: {result.clients_added} added, {result.clients_updated} updated; signing keys: "
               f"{result.keys_added} added, {result.keys_present} already present; scope requests: "
               f"{result.scope_requests_added} added")
    if result.settings_differ:
        click.echo("settings that differ here (not changed: settings come from the environment): "
                   + ", ".join(f"IDP_{name}" for name in result.settings_differ))


commands = [export_command, import_command]
