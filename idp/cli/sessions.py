"""``idp sessions list|end``: an operator sees and ends a person's sign-in sessions.

Ending sessions here has the same consequences as everywhere else (:mod:`idp.people.signout`): the refresh
tokens of each session are revoked, each application of each session gets its Back-Channel Logout
notice, and the action is audited as an administrator action.  The person is named by ``--sub``,
``--email`` or ``--nik``; the NIK is asked for at a hidden prompt (never an argument: arguments land
in shell history and the process list) and looked up by its keyed hash.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
from collections.abc import Callable
from typing import Any

import click
from flask.cli import with_appcontext
from sqlalchemy import or_, select

from idp import audit
from idp.extensions import db
from idp.models import CitizenAccount, Person, StaffAccount
from idp.people import session as login_session
from idp.people import signout
from idp.sources import nik as nik_module
from idp.sources.citizen import nik_hash

PERSON_OPTIONS = [
    click.option("--sub", help="The person's subject identifier (as in their ID tokens)."),
    click.option("--email", help="The person's e-mail address (exact, case-insensitive)."),
    click.option("--nik", "ask_nik", is_flag=True, help="Ask for the person's NIK at a hidden prompt."),
]


def _person_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(PERSON_OPTIONS):
        func = option(func)
    return func


def find_person(sub: str | None, email: str | None, ask_nik: bool) -> Person:
    """The one person named by exactly one of the options, or a click error."""

    if sum(bool(x) for x in (sub, email, ask_nik)) != 1:
        raise click.UsageError("name the person with exactly one of --sub, --email or --nik")
    if sub:
        found = db.session.execute(select(Person).where(Person.sub == sub)).scalars().all()
    elif email:
        wanted = email.strip().lower()
        ids = set(db.session.execute(select(CitizenAccount.person_id)
                                     .where(CitizenAccount.email == wanted)).scalars())
        ids |= set(db.session.execute(select(Person.id).where(Person.email == wanted)).scalars())
        found = db.session.execute(select(Person).where(Person.id.in_(ids))).scalars().all() if ids else []
    else:
        digits = nik_module.normalize(click.prompt("NIK", hide_input=True, prompt_suffix=": "))
        if digits is None or len(digits) != 16:
            raise click.ClickException("that is not a NIK (16 digits)")
        hashed = nik_hash(digits)
        found = db.session.execute(select(Person).where(or_(
            Person.id.in_(select(CitizenAccount.person_id).where(CitizenAccount.nik_hash == hashed)),
            Person.id.in_(select(StaffAccount.person_id).where(StaffAccount.nik_hash == hashed)),
        ))).scalars().all()
    if not found:
        raise click.ClickException("no such person")
    if len(found) > 1:
        raise click.ClickException(f"{len(found)} people match; name the person by --sub")
    return found[0]


def _when(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@click.group("sessions")
def sessions_group() -> None:
    """A person's sign-in sessions (see and end them)."""


@sessions_group.command("list")
@_person_options
@click.option("--json", "as_json", is_flag=True, help="Print the sessions as JSON.")
@with_appcontext
def list_command(sub: str | None, email: str | None, ask_nik: bool, as_json: bool) -> None:
    """The live sign-in sessions of a person, oldest first."""

    person = find_person(sub, email, ask_nik)
    rows: list[dict[str, Any]] = [
        {"sid": s.sid, "started": _when(s.created), "signed_in": _when(s.auth_time), "source": s.source,
         "acr": s.acr, "device": s.device, "ip": s.ip, "clients": s.clients}
        for s in login_session.sessions_of(person.id)]
    if as_json:
        click.echo(json.dumps({"sub": person.sub, "sessions": rows}, indent=2))
        return
    click.echo(f"sub {person.sub}: {len(rows)} session(s)")
    for row in rows:
        click.echo(f"  {row['sid']}  started {row['started']}  {row['source']}  {row['device'] or '-'}  "
                   f"{row['ip'] or '-'}  applications: {', '.join(row['clients']) or '-'}")


@sessions_group.command("end")
@_person_options
@click.option("--sid", help="End only this session (from `idp sessions list`); default: every session.")
@click.option("--reason", required=True, help="Why (kept in the audit log), e.g. a ticket number.")
@with_appcontext
def end_command(sub: str | None, email: str | None, ask_nik: bool, sid: str | None, reason: str) -> None:
    """End a person's sessions: tokens revoked, applications told (back-channel logout), audited."""

    person = find_person(sub, email, ask_nik)
    if sid is not None:
        if sid not in {s.sid for s in login_session.sessions_of(person.id)}:
            raise click.ClickException("that person has no such live session")
        ended = [s for s in [login_session.end_sid(sid)] if s is not None]
    else:
        ended = login_session.end_all(person.id)
    signout.sessions_ended(ended, reason="administrator")
    audit.record("admin.sessions_ended", person_id=person.id, sessions=len(ended), reason=reason[:200],
                 operator=getpass.getuser())
    db.session.commit()
    click.echo(f"ended {len(ended)} session(s) of {person.sub}")


commands = [sessions_group]
