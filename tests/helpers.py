"""Helpers every test package shares: choosing the pages' language the way a person does, and reading
the error a page shows at one of its fields.

The pages are Indonesian unless the person chose English (the language switch, remembered in the
``idp_lang`` cookie) or the application asked for it (``ui_locales``); the browser's Accept-Language
does not decide (:mod:`idp.i18n`).  Tests that read English text choose English here, once per client.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from idp.extensions import db
from idp.i18n import LANG_COOKIE


def choose_english(browser: FlaskClient) -> FlaskClient:
    """Give ``browser`` the cookie the language switch leaves after "English" was chosen; returns it."""
    browser.set_cookie(LANG_COOKIE, "en")
    return browser


def choose_indonesian(browser: FlaskClient) -> FlaskClient:
    """The same for "Bahasa Indonesia" (a client that chose English before switches back)."""
    browser.set_cookie(LANG_COOKIE, "id")
    return browser


# What a phone whose language is set to English sends (Chromium, Android WebView and Safari alike).
PHONE_IN_ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}


def language_switch(page: str) -> tuple[str, str]:
    """The language switch in the page's header (templates/base.html): the language it switches to and
    its href."""
    nav = re.search(r'<nav class="lang"[^>]*>(.*?)</nav>', page, re.S)
    assert nav, "no language switch on the page"
    link = re.search(r'<a href="([^"]*)" lang="(id|en)" hreflang="\2" id="lang-switch">', nav.group(1))
    assert link, nav.group(1)
    return link.group(2), html.unescape(link.group(1))


def from_address(app: Flask, ip: str = "127.0.0.1") -> FlaskClient:
    """A new test client of ``app`` whose requests come from address ``ip`` (the limits count per address)."""
    browser = app.test_client()
    browser.environ_base.update(REMOTE_ADDR=ip)
    return browser


def english(app: Flask, ip: str = "127.0.0.1") -> FlaskClient:
    """A new test client of ``app`` from address ``ip`` whose person chose English."""
    return choose_english(from_address(app, ip))


REQUIRED = "Required."  # an empty field, in English (idp.people.signin.REQUIRED; "Wajib diisi." in Indonesian)
_INPUT_RE = r'<input\b[^>]*\bname="{name}"[^>]*>'


def field_input(page: str, name: str) -> str:
    """The ``<input>`` tag of the field ``name`` on the page (the first one)."""
    found = re.search(_INPUT_RE.format(name=re.escape(name)), page)
    assert found, f"no input named {name} on the page"
    return found.group(0)


def field_error(page: str, name: str) -> str | None:
    """The error shown at the field ``name``, as a screen reader gets it: the input is ``aria-invalid`` and
    names the error in ``aria-describedby``; None when the field shows no error."""
    tag = field_input(page, name)
    described = re.search(r'aria-describedby="([^"]*)"', tag)
    if 'aria-invalid="true"' not in tag or not described:
        return None
    for ref in described.group(1).split():
        found = re.search(rf'<p class="field-error" id="{re.escape(ref)}">(.*?)</p>', page, re.S)
        if found:
            return html.unescape(found.group(1)).strip()
    return None


def field_value(page: str, name: str) -> str:
    """What the field ``name`` shows as typed (its ``value``; empty when it has none)."""
    found = re.search(r'\bvalue="([^"]*)"', field_input(page, name))
    return html.unescape(found.group(1)) if found else ""


@contextmanager
def database_log(app: Flask) -> Iterator[list[str]]:
    """Every statement, COMMIT and ROLLBACK the app's engine sends while the block runs."""
    seen: list[str] = []
    with app.app_context():
        engine = db.engine

    def statement(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        seen.append(sql.split()[0].upper())

    handlers: list[tuple[str, Callable[..., None]]] = [
        ("before_cursor_execute", statement),
        ("commit", lambda _conn: seen.append("COMMIT")),
        ("rollback", lambda _conn: seen.append("ROLLBACK")),
    ]
    for name, fn in handlers:
        event.listen(engine, name, fn)
    try:
        yield seen
    finally:
        for name, fn in handlers:
            event.remove(engine, name, fn)


def sms_outbox(app: Flask, count: int = 0, wait: float = 5.0) -> list[dict[str, Any]]:
    """The text messages in the app's SMS outbox, oldest first, once there are at least ``count`` of them
    (they leave from a thread) or ``wait`` seconds have passed; ``count`` 0 reads the outbox as it is."""
    folder = Path(app.extensions["idp"].config["OUTBOX_DIR"])
    deadline = time.monotonic() + wait
    while True:
        found = [json.loads(p.read_text()) for p in sorted(folder.glob("*.sms"))] if folder.is_dir() else []
        if len(found) >= count or time.monotonic() >= deadline:
            return found
        time.sleep(0.05)


def code_in(text: str) -> str:
    """The six-digit code a message carries."""
    found = re.search(r"\b(\d{6})\b", text)
    assert found, text
    return found.group(1)
