"""``idp ldap test USERNAME`` (try a staff sign-in) and ``idp ldap sync`` (disable people gone from the directory).

Exit codes: 0 success, 1 refused (bad credentials / sync refused), 2 the directory is not configured
or did not answer.  Nothing secret is printed: never a password, the NIK only masked.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click
from flask.cli import with_appcontext

from idp.extensions import db
from idp.people import staff
from idp.sources.base import BadCredentials, SourceUnavailable
from idp.sources.ldap import get_connector
from idp.sources.nik import mask

if TYPE_CHECKING:
    from idp.sources.ldap import LdapConnector


@click.group("ldap")
def ldap_group() -> None:
    """Staff directory (LDAP / Active Directory): test a sign-in, synchronise accounts."""


def _connector() -> LdapConnector:

    connector = get_connector()
    if connector is None:
        click.echo("LDAP is not configured (IDP_LDAP_URLS is empty).", err=True)
        sys.exit(2)
    return connector


@ldap_group.command("test")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, help="Prompted for when not given (never echoed).")
@with_appcontext
def test_command(username: str, password: str) -> None:
    """Sign in as USERNAME against the directory and show what the provider would receive."""

    connector = _connector()
    try:
        identity = connector.authenticate(username, password)
    except BadCredentials as exc:
        click.echo(f"REFUSED: {exc.reason}")
        sys.exit(1)
    except SourceUnavailable as exc:
        click.echo(f"UNAVAILABLE: the directory did not answer ({exc})")
        sys.exit(2)
    attrs = identity.attributes
    click.echo(f"OK: {username} is entry {attrs.get('dn')}")
    click.echo(f"  subject: {identity.subject}")
    click.echo(f"  acr: {identity.acr}  amr: {' '.join(identity.amr)}")
    for name in ("name", "email", "nip", "unit", "title"):
        click.echo(f"  {name}: {attrs.get(name) or '-'}")
    click.echo(f"  nik: {mask(attrs['nik']) if attrs.get('nik') else '-'}")
    click.echo(f"  groups: {'; '.join(attrs.get('groups') or []) or '-'}")
    click.echo(f"  roles: {', '.join(attrs.get('roles') or []) or '-'}")


@ldap_group.command("sync")
@click.option("--dry-run", is_flag=True, help="Report what would change; change nothing.")
@click.option("--force", is_flag=True, help="Disable even when more than half of the staff would be disabled.")
@with_appcontext
def sync_command(dry_run: bool, force: bool) -> None:
    """Disable people whose directory entry was deleted or disabled and revoke their refresh tokens.

    Safe to run from cron: idempotent, and it changes nothing when the directory does not answer.
    """

    connector = _connector()
    try:
        report = staff.sync(connector, dry_run=dry_run, force=force)
    except SourceUnavailable as exc:
        db.session.rollback()
        click.echo(f"UNAVAILABLE: the directory did not answer; nothing changed ({exc})", err=True)
        sys.exit(2)
    if report.refused:
        db.session.rollback()
        click.echo(f"REFUSED: {report.refused}", err=True)
        sys.exit(1)
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    prefix = "would disable" if dry_run else "disabled"
    for line in report.disabled:
        click.echo(f"{prefix}: {line}")
    for line in report.enabled:
        click.echo(f"{'would enable' if dry_run else 'enabled'}: {line}")
    click.echo(f"{report.directory_entries} directory entries, {report.accounts} staff accounts, "
               f"{len(report.disabled)} {prefix}, {len(report.enabled)} enabled, {report.moved} moved, "
               f"{report.revoked_families} token families revoked, {report.ended_sessions} sessions ended"
               + (" (dry run)" if dry_run else ""))


commands = [ldap_group]
