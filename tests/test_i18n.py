"""Language choice (Indonesian by default, English on request) and completeness of the Indonesian catalogue."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlencode

import pytest
from babel.messages.pofile import read_po
from flask.testing import FlaskClient

from idp.i18n import LANG_COOKIE
from tests.helpers import PHONE_IN_ENGLISH, language_switch

PO = Path(__file__).resolve().parent.parent / "idp" / "translations" / "id" / "LC_MESSAGES" / "messages.po"


def test_login_is_indonesian_by_default(client: FlaskClient) -> None:
    resp = client.get("/login")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert '<html lang="id">' in html
    assert "Kata sandi" in html
    assert "Masuk" in html
    assert "Password" not in html


def test_login_in_english_with_lang_switch(client: FlaskClient) -> None:
    html = client.get("/login?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "Password" in html
    assert "Kata sandi" not in html


PAGES = ["/", "/login", "/register-account", "/forgot-password", "/verify-email/resend", "/no-such-page",
         "/authorize?client_id=unknown-client&response_type=code"]


@pytest.mark.parametrize("path", PAGES)
def test_a_phone_set_to_english_gets_indonesian_first_with_the_language_switch(client: FlaskClient, path: str) -> None:
    """Accept-Language does not decide (issue 16): Indonesian, and the way to English on the page."""
    html = client.get(path, headers=PHONE_IN_ENGLISH).get_data(as_text=True)
    assert '<html lang="id">' in html
    assert language_switch(html)[0] == "en"


def test_choosing_english_stays_english(client: FlaskClient) -> None:
    page = client.get("/login", headers=PHONE_IN_ENGLISH).get_data(as_text=True)
    assert "Kata sandi" in page and "Password" not in page
    target, href = language_switch(page)
    chosen = client.get("/login" + href, headers=PHONE_IN_ENGLISH).get_data(as_text=True)
    assert target == "en" and '<html lang="en">' in chosen and "Password" in chosen
    assert client.get_cookie(LANG_COOKIE).value == "en"  # remembered
    for path in PAGES:  # every later page, whatever the browser asks for
        html = client.get(path, headers={"Accept-Language": "id"}).get_data(as_text=True)
        assert '<html lang="en">' in html, path
        assert language_switch(html)[0] == "id", path
    back = client.get("/login?lang=id", headers=PHONE_IN_ENGLISH).get_data(as_text=True)
    assert '<html lang="id">' in back
    assert '<html lang="id">' in client.get("/", headers=PHONE_IN_ENGLISH).get_data(as_text=True)


def test_every_page_template_has_the_language_switch() -> None:
    """Every page extends templates/base.html, which holds the switch, and the stylesheet never hides it
    (on a phone the header wraps instead)."""
    templates = Path(__file__).resolve().parent.parent / "templates"
    pages = [p for p in templates.rglob("*.html") if not p.name.startswith("_") and "mail" not in p.parts
             and p.name != "base.html"]
    assert len(pages) > 50
    for path in pages:
        assert path.read_text().lstrip().startswith('{% extends "base.html" %}'), path
    assert 'id="lang-switch"' in (templates / "base.html").read_text()
    css = (Path(__file__).resolve().parent.parent / "idp" / "static" / "css" / "idp.css").read_text()
    for rule in re.findall(r"([^{}]*\.(?:lang|top)\b[^{}]*)\{([^}]*)\}", css):
        assert not re.search(r"display:\s*none|visibility:\s*hidden", rule[1]), rule


def test_authorize_error_page_follows_ui_locales(client: FlaskClient) -> None:
    query = urlencode({
        "client_id": "unknown-client",
        "redirect_uri": "https://rp.example/callback",
        "response_type": "code",
        "scope": "openid",
        "ui_locales": "en",
    })
    resp = client.get("/authorize?" + query)
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "This application is not registered with Banten SSO." in html
    assert "Aplikasi ini tidak terdaftar" not in html


def test_authorize_error_page_is_indonesian_by_default(client: FlaskClient) -> None:
    resp = client.get("/authorize?" + urlencode({"client_id": "unknown-client", "response_type": "code"}))
    assert resp.status_code == 400
    assert "Aplikasi ini tidak terdaftar di SSO Banten." in resp.get_data(as_text=True)


def test_catalogue_is_complete() -> None:
    with PO.open("rb") as f:
        catalog = read_po(f)
    assert not catalog.fuzzy
    problems = []
    for message in catalog:
        if not message.id:
            continue
        if message.fuzzy:
            problems.append(("fuzzy", message.id))
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not strings or not all(s and s.strip() for s in strings):
            problems.append(("untranslated", message.id))
    assert problems == []
    assert len([m for m in catalog if m.id]) > 100
