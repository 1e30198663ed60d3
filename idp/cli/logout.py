"""``idp logout deliver`` (one delivery pass of back-channel logout notices, for cron or operators),
``idp logout sweep`` (queue the notices of sessions that expired) and ``idp logout status`` (pending
and failed notices per client)."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from idp.oauth import backchannel
from idp.people import signout


@click.group("logout")
def logout_group() -> None:
    """Back-Channel Logout notices to applications."""


@logout_group.command("deliver")
@click.option("--limit", type=click.IntRange(1, 100000), default=None, help="Send at most this many notices.")
@with_appcontext
def deliver_command(limit: int | None) -> None:
    """Send the notices that are due now (the background thread does this too)."""

    outcomes = backchannel.deliver(limit=limit)
    click.echo(f"delivered {outcomes['delivered']}, will retry {outcomes['pending']}, "
               f"failed {outcomes['failed']}")


@logout_group.command("sweep")
@with_appcontext
def sweep_command() -> None:
    """Find sign-in sessions that expired and queue their notices (the background thread does this too)."""

    click.echo(f"expired sessions found: {signout.sweep()}")


@logout_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@with_appcontext
def status_command(as_json: bool) -> None:
    """Pending and failed notices per client (failed ones are also logged at WARNING)."""

    counts = backchannel.status_counts()
    if as_json:
        click.echo(json.dumps(counts, indent=2))
        return
    if not counts:
        click.echo("no pending or failed notices")
        return
    click.echo(f"{'client_id':40}  {'pending':>7}  {'failed':>6}")
    for client_id, row in counts.items():
        click.echo(f"{client_id:40}  {row['pending']:>7}  {row['failed']:>6}")


commands = [logout_group]
