"""Language choice (Indonesian by default, English on request) and completeness of the Indonesian catalogue."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from babel.messages.pofile import read_po
from flask.testing import FlaskClient

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


def test_login_in_english_with_accept_language(client: FlaskClient) -> None:
    html = client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "Password" in html
    assert "Kata sandi" not in html


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
    assert "This application is not registered with Banten Single Sign-On." in html
    assert "Aplikasi ini tidak terdaftar" not in html


def test_authorize_error_page_is_indonesian_by_default(client: FlaskClient) -> None:
    resp = client.get("/authorize?" + urlencode({"client_id": "unknown-client", "response_type": "code"}))
    assert resp.status_code == 400
    assert "Aplikasi ini tidak terdaftar di Banten Single Sign-On." in resp.get_data(as_text=True)


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
