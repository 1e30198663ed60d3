"""``idp keys ...``: signing keys (ensure, rotate, list) and a new data-encryption key."""

from __future__ import annotations

import base64
import secrets

import click
from flask.cli import with_appcontext

from idp import audit
from idp.oauth import keys


@click.group("keys")
def keys_group() -> None:
    """Signing keys for ID tokens and data-encryption keys."""


@keys_group.command("ensure")
@with_appcontext
def ensure_command() -> None:
    """Create an active RS256, ES256 and EdDSA signing key where there is none."""

    created = keys.ensure()
    if created:
        for kid in created:
            click.echo(f"created signing key {kid}")
    else:
        click.echo("signing keys present")


@keys_group.command("rotate")
@click.option("--alg", "algs", multiple=True, type=click.Choice(["RS256", "ES256", "EdDSA"]),
              help="Rotate only this algorithm's key (repeatable); default: every algorithm.")
@with_appcontext
def rotate_command(algs: tuple[str, ...]) -> None:
    """Publish a new signing key now; it signs after IDP_KEY_ROTATION_OVERLAP, and the old key is retired.

    Run it from cron (say monthly); running it again before a scheduled key took over does nothing.
    """

    created = keys.rotate(algs or keys.ALGORITHMS)
    if created:  # audited like the console's rotation (and marked key_rotation for the SIEM, idp.siem)
        audit.record("keys.rotated", operator="cli", kids=created, commit=True)
    overlap = keys.setting("KEY_ROTATION_OVERLAP")
    for kid in created:
        click.echo(f"published signing key {kid}; it signs in {overlap} s")
    if not created:
        click.echo("a rotation is already scheduled (see `idp keys list`)")


@keys_group.command("list")
@with_appcontext
def list_command() -> None:
    """List the signing keys (kid, algorithm, state, when it started or starts signing); never the private part."""

    for item in keys.describe():
        since = item["activated_at"] or item["created_at"]
        click.echo(f"{item['kid']}  {item['alg']}  {item['state']:11}  signs from {since:%Y-%m-%d %H:%M:%S}Z")


@keys_group.command("new-data-key")
def new_data_key() -> None:
    """Print a new `kid:base64key` item for IDP_DATA_KEYS (put it first to encrypt with it)."""
    kid = "k" + secrets.token_hex(4)
    click.echo(f"{kid}:{base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()}")


commands = [keys_group]
