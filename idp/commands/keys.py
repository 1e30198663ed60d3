"""``idp keys ...``: signing keys (ensure, list) and a new data-encryption key."""

from __future__ import annotations

import base64
import secrets

import click
from flask.cli import with_appcontext


@click.group("keys")
def keys_group() -> None:
    """Signing keys for ID tokens and data-encryption keys."""


@keys_group.command("ensure")
@with_appcontext
def ensure_command() -> None:
    """Create an active RS256 and ES256 signing key if there is none."""
    from ..oauth import keys

    created = keys.ensure()
    if created:
        for kid in created:
            click.echo(f"created signing key {kid}")
    else:
        click.echo("signing keys present")


@keys_group.command("list")
@with_appcontext
def list_command() -> None:
    """List the signing keys (kid, algorithm, status, creation time); never the private part."""
    from ..oauth import keys

    for row in keys.rows():
        click.echo(f"{row.kid}  {row.alg}  {row.status:8}  {row.created_at:%Y-%m-%d %H:%M}")


@keys_group.command("new-data-key")
def new_data_key() -> None:
    """Print a new `kid:base64key` item for IDP_DATA_KEYS (put it first to encrypt with it)."""
    kid = "k" + secrets.token_hex(4)
    click.echo(f"{kid}:{base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()}")


commands = [keys_group]
