"""Test helpers for the protocol tests: clients, people and sessions written straight to the database
and the store, so these tests depend neither on registration (A2) nor on the sign-in pages (B)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import Flask
from flask.testing import FlaskClient

from idp import assurance
from idp.extensions import db
from idp.models import CitizenAccount, Client, Person

REDIRECT = "https://rp.example.org/callback"
LOGOUT_REDIRECT = "https://rp.example.org/signed-out"


def create_client(app: Flask, *, client_id: str | None = None, secret: str | None = "",
                  redirect_uris: list[str] | None = None, auth_method: str | None = None,
                  first_party: bool = False, require_pkce: bool = False, approved_scopes: str = "",
                  disabled: bool = False, **metadata: Any) -> tuple[str, str | None]:
    """Insert a client row; returns (client_id, secret). ``secret=None`` makes a public client."""
    client_id = client_id or "c-" + secrets.token_hex(6)
    if secret == "":
        secret = secrets.token_urlsafe(32)
    if auth_method is None:
        auth_method = "none" if secret is None else "client_secret_basic"
    meta: dict[str, Any] = {
        "client_name": metadata.pop("client_name", "Test App " + client_id),
        "redirect_uris": redirect_uris or [REDIRECT],
        "post_logout_redirect_uris": [LOGOUT_REDIRECT],
        "token_endpoint_auth_method": auth_method,
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "scope": "openid profile email offline_access nik",
    }
    meta.update(metadata)
    with app.app_context():
        crypto = app.extensions["idp"].crypto
        db.session.add(Client(
            client_id=client_id,
            client_secret_hash=crypto.keyed_hash("client_secret", secret) if secret else None,
            client_id_issued_at=int(time.time()), client_metadata=meta, first_party=first_party,
            require_pkce=require_pkce, approved_scopes=approved_scopes, disabled=disabled,
        ))
        db.session.commit()
    return client_id, secret


NIK = "3603014501900001"


def create_person(app: Flask, *, name: str = "Siti Aminah", email: str | None = None,
                  nik: str = NIK) -> tuple[int, str]:
    """Insert a person with a citizen account; returns (person_id, sub)."""
    email = email or f"{secrets.token_hex(4)}@example.org"
    with app.app_context():
        crypto = app.extensions["idp"].crypto
        person = Person(sub=secrets.token_urlsafe(32), name=name, email=email, email_verified=True,
                        birthdate=dt.date(1990, 1, 5), gender="female", locale="id")
        db.session.add(person)
        db.session.flush()
        db.session.add(CitizenAccount(
            public_id=secrets.token_hex(16), person_id=person.id, nik_hash=crypto.keyed_hash("nik", nik),
            nik_enc=crypto.encrypt(nik, "citizen.nik"), nik_key_id=crypto.active_kid,
            nik_masked=nik[:4] + "********" + nik[-4:], email=email, email_verified_at=dt.datetime(2026, 1, 1),
            password_hash="x", full_name=name, birthdate=dt.date(1990, 1, 5), gender="female",
            assurance=assurance.CITIZEN,
        ))
        db.session.commit()
        return person.id, person.sub


def sign_in(app: Flask, browser: Any, person_id: int, sub: str, *, auth_time: int | None = None,
            acr: str = assurance.CITIZEN, amr: list[str] | None = None) -> str:
    """Create a login session in the store and give ``browser`` its cookie (FlaskClient or requests)."""
    now = int(time.time())
    secret = secrets.token_urlsafe(32)
    sid = secrets.token_urlsafe(24)
    data = {"sid": sid, "person_id": person_id, "sub": sub, "auth_time": auth_time or now, "acr": acr,
            "amr": amr or ["pwd"], "created": now, "absolute_exp": now + 3600, "source": "citizen",
            "remember": False, "clients": [], "secret_hash": hashlib.sha256(secret.encode()).hexdigest()}
    store = app.extensions["idp"].store
    store.put("sid", sid, data, 3600)
    store.set_add("person-sids", str(person_id), sid, 3600)
    cookie = f"{sid}.{secret}"  # idp.people.session: <sid>.<secret>
    if isinstance(browser, FlaskClient):
        browser.set_cookie("idp_session", cookie)
    else:
        browser.cookies.set("idp_session", cookie)
    return sid


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def query(location: str) -> dict[str, str]:
    """Parameters of a redirect's query, one value each."""
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query, keep_blank_values=True).items()}


def basic(client_id: str, secret: str) -> dict[str, str]:
    from urllib.parse import quote

    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
