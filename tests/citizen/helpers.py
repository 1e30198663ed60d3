"""Helpers to walk through the citizen pages like a browser (registration, e-mail link, sign-in).

Other test packages import them (``from tests.citizen.helpers import register_and_verify, sign_in``).
They drive the real HTTP pages through a Flask test client (CSRF included) and read the verification
mail from the outbox folder (the app must have no ``SMTP_HOST``, the fixtures' default).
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import Flask
from flask.testing import FlaskClient

PASSWORD = "kopi tubruk di pagi hari"  # noqa: S105 - a test password (not in the common list)
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
TOKEN_RE = re.compile(r'name="token" type="hidden" value="([^"]+)"')


def make_nik(*, birthdate: dt.date = dt.date(1990, 5, 12), female: bool = False, province: str = "36") -> str:
    """A structurally valid NIK with random regency, district and serial (unique enough per test)."""
    day = birthdate.day + (40 if female else 0)
    return (f"{province}{secrets.randbelow(79) + 1:02d}{secrets.randbelow(89) + 1:02d}"
            f"{day:02d}{birthdate.month:02d}{birthdate.year % 100:02d}{secrets.randbelow(9998) + 1:04d}")


def csrf(html: str | bytes) -> str:
    text = html.decode() if isinstance(html, bytes) else html
    found = CSRF_RE.search(text)
    assert found, "no CSRF token in the page"
    return found.group(1)


def form_post(client: FlaskClient, page: str, data: dict[str, Any], action: str | None = None) -> Any:
    """GET ``page``, take its CSRF token and POST ``data`` to ``action`` (default: the same path)."""
    got = client.get(page)
    assert got.status_code == 200, got.status_code
    return client.post(action or urlsplit(page).path, data={"csrf_token": csrf(got.data), **data})


def outbox(app: Flask) -> list[email.message.EmailMessage]:
    """Every mail written to the app's outbox folder, oldest first."""
    folder = Path(app.extensions["idp"].config["OUTBOX_DIR"])
    if not folder.is_dir():
        return []
    mails = []
    for path in sorted(folder.glob("*.eml")):
        mails.append(email.message_from_bytes(path.read_bytes(), policy=email.policy.default))
    return mails  # type: ignore[return-value]


def mails_to(app: Flask, address: str) -> list[email.message.EmailMessage]:
    return [m for m in outbox(app) if m["To"].lower() == address.lower()]


def body(msg: email.message.EmailMessage) -> str:
    return str(msg.get_content())


def verification_link(app: Flask, address: str) -> str:
    """The path + query of the newest verification link mailed to ``address``."""
    for msg in reversed(mails_to(app, address)):
        found = re.search(r"https?://\S+/verify-email\?token=\S+", body(msg))
        if found:
            parts = urlsplit(found.group(0))
            return f"{parts.path}?{parts.query}"
    raise AssertionError(f"no verification mail to {address}")


def confirm(client: FlaskClient, link: str, password: str | None = None) -> Any:
    """Open the link (a page with a button) and press the button; ``password``: the one chosen at
    registration, which the page asks for when the link is opened in another browser (issue 15)."""
    page = client.get(link)
    assert page.status_code == 200, page.status_code
    token = TOKEN_RE.search(page.data.decode())
    assert token
    data = {"csrf_token": csrf(page.data), "token": token.group(1)}
    if password is not None:
        data["password"] = password
    return client.post("/verify-email", data=data)


@dataclass
class Citizen:
    nik: str
    email: str
    password: str
    name: str
    birthdate: dt.date


def register(client: FlaskClient, *, nik: str | None = None, name: str = "Budi Santoso",
             birthdate: dt.date | None = None, email_address: str | None = None, password: str = PASSWORD,
             req: str | None = None, **extra: Any) -> tuple[Citizen, Any]:
    """Fill in the registration form; returns the citizen and the POST response (a 303 on success)."""
    birthdate = birthdate or dt.date(1990, 5, 12)
    nik = nik or make_nik(birthdate=birthdate)
    email_address = f"warga-{secrets.token_hex(5)}@example.org" if email_address is None else email_address
    page = "/register-account" + (f"?req={req}" if req else "")
    # Step 2 of the form straight away: the NIK with its birth date and sex confirmed (step 1 only shows them).
    data = {"nik": nik, "confirmed": "y", "full_name": name, "email": email_address,
            "password": password, "password_confirm": password, "req": req or "", **extra}
    resp = form_post(client, page, data, action="/register-account")
    return Citizen(nik=nik, email=email_address, password=password, name=name, birthdate=birthdate), resp


def register_and_verify(client: FlaskClient, **kwargs: Any) -> Citizen:
    """Register through the pages and confirm the e-mail through the mailed link, opened in another
    browser (the same browser would be signed in by it, issue 16: tests that want that do it themselves)."""
    citizen, resp = register(client, **kwargs)
    assert resp.status_code == 303, resp.data[:2000]
    confirmed = confirm(client.application.test_client(), verification_link(client.application, citizen.email),
                        password=citizen.password)
    assert confirmed.status_code == 303, confirmed.data[:2000]
    return citizen


def sign_in(client: FlaskClient, identifier: str | Citizen, password: str | None = None, *,
            req: str | None = None, kind: str = "citizen") -> Any:
    """Post the sign-in form; a 303 to ``/authorize/resume?req=`` (or ``/``) on success."""
    if isinstance(identifier, Citizen):
        password = identifier.password if password is None else password
        identifier = identifier.nik
    page = "/login" + (f"?req={req}" if req else "")
    return form_post(client, page, {"kind": kind, "identifier": identifier, "password": password or "",
                                    "req": req or ""}, action="/login")


def query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


# --- forgotten password ----------------------------------------------------------------------------
RECOVERY_CODE_RE = re.compile(r"^\s{4}(\d{8})\s*$", re.M)


def wait_for_mails(app: Flask, address: str, count: int, timeout: float = 5) -> list[email.message.EmailMessage]:
    """The mails to ``address`` once there are ``count`` (some are sent from a thread)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = mails_to(app, address)
        if len(found) >= count:
            return found
        time.sleep(0.05)
    return mails_to(app, address)


def recovery_codes(app: Flask, address: str) -> list[str]:
    """Every forgotten-password code mailed to ``address``, oldest first."""
    return [found.group(1) for msg in mails_to(app, address) if (found := RECOVERY_CODE_RE.search(body(msg)))]


def newest_recovery_code(app: Flask, address: str, count: int = 1) -> str:
    """The newest code once ``count`` codes reached ``address`` (the mail leaves from a thread)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        codes = recovery_codes(app, address)
        if len(codes) >= count:
            return codes[-1]
        time.sleep(0.05)
    raise AssertionError(f"no recovery code mailed to {address}")


def forgot(client: FlaskClient, identifier: str) -> Any:
    """Ask for a forgotten-password code; a 303 to the code page when the form is right."""
    return form_post(client, "/forgot-password", {"identifier": identifier})


def recovery_step(client: FlaskClient, path: str, data: dict[str, Any]) -> Any:
    """POST one step of the flow (``/forgot-password/code``, ``/two-step``, ``/new``) with the page's token."""
    text = client.get(path).get_data(as_text=True)
    # A step the flow is not at shows no form: any page's token does (it belongs to the cookie session).
    token = csrf(text) if CSRF_RE.search(text) else csrf(client.get("/login").data)
    return client.post(path, data={"csrf_token": token, **data})


def reset_password(client: FlaskClient, app: Flask, citizen: Citizen, new_password: str) -> Any:
    """The whole forgotten-password journey without two-step verification; the final response."""
    before = len(recovery_codes(app, citizen.email))
    assert forgot(client, citizen.nik).status_code == 303
    code = newest_recovery_code(app, citizen.email, before + 1)
    assert recovery_step(client, "/forgot-password/code", {"code": code}).status_code == 303
    return recovery_step(client, "/forgot-password/new", {"password": new_password,
                                                          "password_confirm": new_password})
