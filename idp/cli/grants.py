"""``idp admin grant|revoke|list`` and ``idp portal grant|revoke|list``: roles operators give (issue 18).

``idp admin grant`` makes the first administrator of an installation without a directory: register a
citizen account at ``/register`` (or sign in once), then run ``idp admin grant --email ADDRESS``.  At the
next sign-in the provider asks for a second factor and, the first time, has the person set one up
(``admin`` is in ``IDP_MFA_REQUIRED_ROLES``); the console then opens at ``/admin``.

``idp portal grant`` lets a person who is not staff (a vendor's developer) use the developer portal
for one team until ``--days`` have passed.  Every grant and revocation is audited with the operator's
user name (:mod:`idp.consoles.grants`).  The person is named like in ``idp sessions``: ``--sub``,
``--email`` or ``--nik`` (hidden prompt).
"""

from __future__ import annotations

import datetime as dt
import getpass

import click
from flask.cli import with_appcontext

from idp.cli.sessions import _person_options, find_person
from idp.consoles import grants as rules
from idp.extensions import db
from idp.models import utcnow
from idp.people import roles


def _operator() -> str:
    return f"cli {getpass.getuser()}"


def _fail(exc: rules.GrantError) -> click.ClickException:
    db.session.rollback()
    return click.ClickException(str(exc.message))


@click.group("admin")
def admin_group() -> None:
    """Administrators granted by an operator (the first one of an installation without a directory)."""


@admin_group.command("grant")
@_person_options
@click.option("--days", type=click.IntRange(1, 3660), default=None,
              help="End the role after this many days (default: until revoked).")
@with_appcontext
def admin_grant(sub: str | None, email: str | None, ask_nik: bool, days: int | None) -> None:
    """Make a person an administrator; a second factor is required (and set up) at their next sign-in."""
    person = find_person(sub, email, ask_nik)
    if person.status != "active":
        raise click.ClickException("that person is not active")
    expires = utcnow() + dt.timedelta(days=days) if days is not None else None
    rules.grant_admin(person, by=_operator(), expires_at=expires)
    db.session.commit()
    until = expires.strftime("%Y-%m-%d %H:%M UTC") if expires else "until revoked"
    click.echo(f"{person.sub} is an administrator ({until}); at the next sign-in a second factor is required "
               "(set up the first time), then the console is at /admin")


@admin_group.command("revoke")
@_person_options
@with_appcontext
def admin_revoke(sub: str | None, email: str | None, ask_nik: bool) -> None:
    """Withdraw a granted administrator role (roles from directory groups stay the directory's)."""
    person = find_person(sub, email, ask_nik)
    if not rules.revoke_admin(person, by=_operator()):
        raise click.ClickException("that person has no granted administrator role")
    db.session.commit()
    click.echo(f"{person.sub} is no longer a granted administrator")


@admin_group.command("list")
@with_appcontext
def admin_list() -> None:
    """The granted administrators."""
    for grant in rules.grants(role=roles.ADMIN):
        until = grant.expires_at.strftime("%Y-%m-%d %H:%M UTC") if grant.expires_at else "until revoked"
        click.echo(f"{grant.person.sub}  {grant.person.email or '-'}  {until}  by {grant.granted_by or '-'}")


@click.group("portal")
def portal_group() -> None:
    """Developer portal access for people who are not staff (vendors' developers)."""


@portal_group.command("grant")
@_person_options
@click.option("--team", required=True, help="The team's name (as shown in the portal).")
@click.option("--days", default=rules.DEFAULT_PORTAL_DAYS, show_default=True,
              help=f"The access ends after this many days (1-{rules.MAX_PORTAL_DAYS}).")
@with_appcontext
def portal_grant(sub: str | None, email: str | None, ask_nik: bool, team: str, days: int) -> None:
    """Let a person use the developer portal as a member of a team, until the access expires."""
    person = find_person(sub, email, ask_nik)
    try:
        found = rules.find_team(team)
        grant = rules.grant_portal(person, found, rules.portal_expiry(days), by=_operator())
    except rules.GrantError as exc:
        raise _fail(exc) from None
    db.session.commit()
    assert grant.expires_at is not None
    click.echo(f"{person.sub} may use the portal for team {found.name!r} until "
               f"{grant.expires_at.strftime('%Y-%m-%d %H:%M UTC')}")


@portal_group.command("revoke")
@_person_options
@click.option("--team", required=True, help="The team's name.")
@with_appcontext
def portal_revoke(sub: str | None, email: str | None, ask_nik: bool, team: str) -> None:
    """End a person's portal access to a team now."""
    person = find_person(sub, email, ask_nik)
    try:
        found = rules.find_team(team)
    except rules.GrantError as exc:
        raise _fail(exc) from None
    grant = next((g for g in rules.grants(team_id=found.id, role=roles.PORTAL) if g.person.id == person.id), None)
    row = rules.portal_grant(grant.id, found.id) if grant else None
    if row is None:
        raise click.ClickException("that person has no portal access to this team")
    rules.revoke_portal(row, by=_operator())
    db.session.commit()
    click.echo(f"{person.sub} no longer has portal access to team {found.name!r}")


@portal_group.command("list")
@with_appcontext
def portal_list() -> None:
    """The current portal grants."""
    for grant in rules.grants(role=roles.PORTAL):
        until = grant.expires_at.strftime("%Y-%m-%d %H:%M UTC") if grant.expires_at else "-"
        click.echo(f"{grant.person.sub}  {grant.person.email or '-'}  team {grant.team.name if grant.team else '-'!r}"
                   f"  until {until}  by {grant.granted_by or '-'}")


commands = [admin_group, portal_group]
