"""``idp audit purge``: delete audit events older than the retention period (``IDP_AUDIT_RETENTION_DAYS``).

The audit log is append-only for the application; only this operator command removes rows, and only
by age, so that it is kept no longer than needed (UU PDP, Law 27/2022: storage limitation).
"""

from __future__ import annotations

import datetime as dt

import click
from flask.cli import with_appcontext
from sqlalchemy import delete

from idp.extensions import db, state
from idp.models import AuditEvent, utcnow


def retention_days() -> int:
    """The configured retention in days (``IDP_AUDIT_RETENTION_DAYS``)."""
    return int(state().config["AUDIT_RETENTION_DAYS"])


def purge(days: int, *, now: dt.datetime | None = None) -> int:
    """Delete audit events older than ``days`` days; the number deleted (committed)."""

    cutoff = (now or utcnow()) - dt.timedelta(days=days)
    result = db.session.execute(delete(AuditEvent).where(AuditEvent.at < cutoff))
    db.session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@click.group("audit")
def audit_group() -> None:
    """The audit log."""


@audit_group.command("purge")
@click.option("--days", type=click.IntRange(1, 36500), default=None,
              help="Keep this many days (default: IDP_AUDIT_RETENTION_DAYS).")
@with_appcontext
def purge_command(days: int | None) -> None:
    """Delete audit events older than the retention period."""
    keep = days if days is not None else retention_days()
    click.echo(f"deleted {purge(keep)} audit events older than {keep} days")


commands = [audit_group]
