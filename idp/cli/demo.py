"""``idp demo``: a demo citizen and a demo client for the example relying party (development only).

The example application's port is a choice (``make run RP_PORT=5002``): its redirect URI, post-logout
URI and front-channel logout URI are registered for that port (added to the demo client when it already
exists).  The demo citizen gets portal access for the demo team, which manages the demo client, so a
developer reaches the portal at once; the printed text says how to reach the console too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import click
from flask.cli import with_appcontext

from idp import passwords
from idp.consoles import grants
from idp.extensions import db, state
from idp.models import Client, Person, Team, utcnow
from idp.oauth import registration
from idp.oauth.client_metadata import MAX_URIS
from idp.sources import citizen
from idp.sources import nik as nik_module

DEMO_NIK = "3603015501900001"  # Kab. Tangerang, woman born 15-01-1990, serial 0001 (structurally valid)
DEMO_EMAIL = "warga.demo@example.id"
DEMO_PASSWORD = "Banten-Demo-2026!"  # noqa: S105 - printed demo credential, development only
DEMO_NAME = "Siti Warga Demo"
DEMO_TEAM = "Tim Demo"
DEMO_PORTAL_DAYS = 30


def _state_file() -> Path:
    return Path(state().config["INSTANCE_DIR"]) / "demo.json"


def _ensure_citizen() -> Person:
    found = citizen.find_by_nik(DEMO_NIK)
    if found is not None:
        existing = db.session.get(Person, found.person_id)
        if existing is None:
            raise click.ClickException("the demo citizen's person is missing")
        return existing
    parsed = nik_module.parse(DEMO_NIK)
    if not isinstance(parsed, nik_module.Nik):
        raise click.ClickException("the demo NIK does not validate")
    reg = citizen.Registration(nik=parsed, full_name=DEMO_NAME, birthdate=parsed.birthdate,
                               email=DEMO_EMAIL, password=DEMO_PASSWORD, locale="id")

    account, _token = citizen._create(reg, DEMO_EMAIL, passwords.hash(DEMO_PASSWORD))
    account.email_verified_at = utcnow()
    person = db.session.get(Person, account.person_id)
    if person is None:
        raise click.ClickException("the demo citizen's person is missing")
    person.email_verified = True
    db.session.commit()
    return person


def _ensure_team(person: Person) -> Team:
    """The demo team, and the demo citizen's portal access to it (renewed at every ``make run``)."""
    team = db.session.query(Team).filter_by(name=DEMO_TEAM).first()
    if team is None:
        team = Team(name=DEMO_TEAM)
        db.session.add(team)
        db.session.flush()
    grants.grant_portal(person, team, grants.portal_expiry(DEMO_PORTAL_DAYS), by="idp demo")
    db.session.commit()
    return team


def _widen(row: Client, redirect_uri: str, logout_uri: str) -> None:
    """Register this port's addresses for the existing demo client (the example may run on another port)."""
    meta = dict(row.client_metadata or {})
    redirects = list(meta.get("redirect_uris") or [])
    logouts = list(meta.get("post_logout_redirect_uris") or [])
    if redirect_uri in redirects and logout_uri in logouts:
        return
    meta["redirect_uris"] = [*[u for u in redirects if u != redirect_uri], redirect_uri][-MAX_URIS:]
    meta["post_logout_redirect_uris"] = [*[u for u in logouts if u != logout_uri],
                                         logout_uri][-MAX_URIS:]
    # Front-Channel Logout 1.0 allows one URI: the latest port's example application receives it.
    meta["frontchannel_logout_uri"] = urljoin(redirect_uri, "/frontchannel-logout")
    row.client_metadata = registration.validate_metadata(meta, current=row.client_metadata)
    db.session.commit()


def _ensure_client(redirect_uri: str, logout_uri: str, team: Team) -> dict[str, Any]:
    path = _state_file()
    if path.exists():
        saved: dict[str, Any] = json.loads(path.read_text())
        row = db.session.query(Client).filter_by(client_id=saved.get("client_id")).first()
        if row is not None:
            _widen(row, redirect_uri, logout_uri)
            if row.team_id is None:
                row.team_id = team.id
                db.session.commit()
            return saved
    metadata = {"client_name": "Contoh Aplikasi (demo)", "redirect_uris": [redirect_uri],
                "post_logout_redirect_uris": [logout_uri], "token_endpoint_auth_method": "client_secret_basic",
                "grant_types": ["authorization_code", "refresh_token"],
                "scope": "openid profile email offline_access nik",
                # The example application's Front-Channel Logout 1.0 endpoint (clients/example-rp).
                "frontchannel_logout_uri": urljoin(redirect_uri, "/frontchannel-logout"),
                "frontchannel_logout_session_required": True}
    row, secret = registration.create_client(metadata, approved_scopes="nik", created_by="demo")
    row.team_id = team.id
    db.session.commit()
    saved = {"client_id": row.client_id, "client_secret": secret}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(saved, handle)
    return saved


@click.command("demo")
@click.option("--rp-port", type=click.IntRange(1, 65535), default=5001, show_default=True,
              help="The port the example application (clients/example-rp) listens on.")
@click.option("--redirect-uri", default=None, help="Default: http://127.0.0.1:<rp-port>/callback.")
@click.option("--post-logout-redirect-uri", "logout_uri", default=None, help="Default: http://127.0.0.1:<rp-port>/.")
@with_appcontext
def demo_command(rp_port: int, redirect_uri: str | None, logout_uri: str | None) -> None:
    """Create (once) a demo citizen, team and client, and print how to use them."""
    cfg = state().config
    if cfg["ENV"] == "production":
        raise click.UsageError("idp demo is for development only (IDP_ENV=production)")
    rp = f"http://127.0.0.1:{rp_port}"
    redirect_uri = redirect_uri or f"{rp}/callback"
    logout_uri = logout_uri or f"{rp}/"
    person = _ensure_citizen()
    team = _ensure_team(person)
    try:
        client = _ensure_client(redirect_uri, logout_uri, team)
    except registration.MetadataError as exc:
        raise click.ClickException(exc.description) from None
    issuer = cfg["ISSUER"]
    click.echo(f"""
  Provider:        {issuer}/   (discovery: {issuer}/.well-known/openid-configuration)
  Demo citizen:    NIK {DEMO_NIK}  or  {DEMO_EMAIL}
  Password:        {DEMO_PASSWORD}
  Mail outbox:     {cfg['OUTBOX_DIR']}
  Example RP:      in a second terminal, from this directory:
                   RP_ISSUER={issuer} RP_PORT={rp_port} RP_CLIENT_ID={client['client_id']} \\
                   RP_CLIENT_SECRET={client['client_secret']} .venv/bin/python clients/example-rp/app.py
                   then open {rp}/   (redirect URI registered: {redirect_uri})
  Portal:          {issuer}/portal  (the demo citizen may use it for the team "{team.name}" for
                   {DEMO_PORTAL_DAYS} days; the demo application is there)
  Console:         {issuer}/admin  (administrators only; to make the demo citizen one:
                   .venv/bin/idp admin grant --email {DEMO_EMAIL}
                   the next sign-in then asks to set up a second factor)
""")


commands = [demo_command]
