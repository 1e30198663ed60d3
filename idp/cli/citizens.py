"""``idp citizens purge-unverified``: delete citizen accounts never confirmed (:mod:`idp.people.purge`)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from idp.people import purge


@click.group("citizens")
def citizens_group() -> None:
    """Citizen accounts."""


@citizens_group.command("purge-unverified")
@click.option("--days", type=click.IntRange(1, 365), default=None,
              help="Delete accounts older than this many days (default: IDP_UNVERIFIED_PURGE_DAYS).")
@with_appcontext
def purge_unverified(days: int | None) -> None:
    """Delete citizen accounts whose e-mail address and mobile number were never confirmed."""
    click.echo(f"deleted {purge.purge_unverified(days)} never-confirmed citizen account(s)")


commands = [citizens_group]
