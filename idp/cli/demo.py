"""``idp demo``: a demo citizen and a demo client for the example relying party (development only)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import click
from flask.cli import with_appcontext

from idp import passwords
from idp.extensions import db, state
from idp.models import Client, Person, utcnow
from idp.oauth import registration
from idp.sources import citizen
from idp.sources import nik as nik_module

DEMO_NIK = "3603015501900001"  # Kab. Tangerang, woman born 15-01-1990, serial 0001 (structurally valid)
DEMO_EMAIL = "warga.demo@example.id"
DEMO_PASSWORD = "Banten-Demo-2026!"  # noqa: S105 - printed demo credential, development only
DEMO_NAME = "Siti Warga Demo"


def _state_file() -> Path:
    return Path(state().config["INSTANCE_DIR"]) / "demo.json"


def _ensure_citizen() -> None:

    if citizen.find_by_nik(DEMO_NIK) is not None:
        return
    parsed = nik_module.parse(DEMO_NIK)
    if not isinstance(parsed, nik_module.Nik):
        raise click.ClickException("the demo NIK does not validate")
    reg = citizen.Registration(nik=parsed, full_name=DEMO_NAME, birthdate=parsed.birthdate,
                               email=DEMO_EMAIL, password=DEMO_PASSWORD, locale="id")

    account, _token = citizen._create(reg, DEMO_EMAIL, passwords.hash(DEMO_PASSWORD))
    account.email_verified_at = utcnow()
    person = db.session.get(Person, account.person_id)
    if person is not None:
        person.email_verified = True
    db.session.commit()


def _ensure_client(redirect_uri: str, logout_uri: str) -> dict[str, Any]:

    path = _state_file()
    if path.exists():
        saved: dict[str, Any] = json.loads(path.read_text())
        if db.session.query(Client).filter_by(client_id=saved.get("client_id")).first() is not None:
            return saved
    metadata = {"client_name": "Contoh Aplikasi (demo)", "redirect_uris": [redirect_uri],
                "post_logout_redirect_uris": [logout_uri], "token_endpoint_auth_method": "client_secret_basic",
                "grant_types": ["authorization_code", "refresh_token"],
                "scope": "openid profile email offline_access nik",
                # The example application's Front-Channel Logout 1.0 endpoint (clients/example-rp).
                "frontchannel_logout_uri": urljoin(redirect_uri, "/frontchannel-logout"),
                "frontchannel_logout_session_required": True}
    row, secret = registration.create_client(metadata, approved_scopes="nik", created_by="demo")
    db.session.commit()
    saved = {"client_id": row.client_id, "client_secret": secret}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(saved, handle)
    return saved


@click.command("demo")
@click.option("--redirect-uri", default="http://127.0.0.1:5001/callback", show_default=True)
@click.option("--post-logout-redirect-uri", "logout_uri", default="http://127.0.0.1:5001/", show_default=True)
@with_appcontext
def demo_command(redirect_uri: str, logout_uri: str) -> None:
    """Create (once) a demo citizen and a demo client, and print how to use them."""
    cfg = state().config
    if cfg["ENV"] == "production":
        raise click.UsageError("idp demo is for development only (IDP_ENV=production)")
    _ensure_citizen()
    client = _ensure_client(redirect_uri, logout_uri)
    issuer = cfg["ISSUER"]
    click.echo(f"""
  Provider:        {issuer}/   (discovery: {issuer}/.well-known/openid-configuration)
  Demo citizen:    NIK {DEMO_NIK}  or  {DEMO_EMAIL}
  Password:        {DEMO_PASSWORD}
  Mail outbox:     {cfg['OUTBOX_DIR']}
  Example RP:      RP_CLIENT_ID={client['client_id']} RP_CLIENT_SECRET={client['client_secret']} \\
                   .venv/bin/python clients/example-rp/app.py    (then open http://127.0.0.1:5001/)
""")


commands = [demo_command]
