"""Every form of the pages, sent with a valid session and CSRF token but hostile fields, never gives a 5xx
(issue 21).  The person is an administrator with two-step verification (budi, from the test directory), so
the account, developer portal and admin console forms are all reachable; the forms are found by walking
the pages, not listed by hand, so a new form is fuzzed without a change here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st

from tests.admin.conftest import admin, ldap_certs, slapd_main  # noqa: F401 - fixtures of the admin tests
from tests.admin.conftest import app as admin_app
from tests.fuzz import hostile
from tests.fuzz.test_http_fuzz import check

app = admin_app  # PostgreSQL + Redis + slapd, administrators in the directory

MAX_PAGES = 100


@dataclass
class Form:
    page: str
    action: str
    fields: dict[str, list[str]] = field(default_factory=dict)  # name -> known values (options, defaults)


class _Forms(HTMLParser):
    """The POST forms of a page and the links on it."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.page = page
        self.forms: list[Form] = []
        self.links: list[str] = []
        self._current: Form | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and a.get("href"):
            self.links.append(urljoin(self.page, a["href"]))
        elif tag == "form" and a.get("method", "get").lower() == "post":
            self._current = Form(self.page, urljoin(self.page, a.get("action") or self.page))
        elif self._current is not None and tag in ("input", "textarea", "select", "button") and a.get("name"):
            self._current.fields.setdefault(a["name"], []).append(a.get("value", ""))
            self._select = a["name"] if tag == "select" else None
        elif self._current is not None and tag == "option" and self._select:
            self._current.fields[self._select].append(a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._current is not None:
            self.forms.append(self._current)
            self._current = None


def _local(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
        return None
    if parts.path.startswith(("/static", "/logout", "/end_session", "/authorize")):
        return None
    return parts.path + ("?" + parts.query if parts.query else "")


def crawl(browser: FlaskClient, app: Flask) -> list[Form]:
    """The POST forms on every page reachable from the routes without parameters (and one level of links)."""
    start = [r.rule for r in app.url_map.iter_rules() if "GET" in r.methods and "<" not in r.rule]
    queue, seen, forms = list(dict.fromkeys(start)), set(), {}
    while queue and len(seen) < MAX_PAGES:
        page = queue.pop(0)
        if page in seen or _local(page) is None:
            continue
        seen.add(page)
        resp = browser.get(page)
        if resp.status_code != 200 or resp.mimetype != "text/html":
            continue
        parser = _Forms(page)
        parser.feed(resp.get_data(as_text=True))
        for form in parser.forms:
            forms.setdefault((form.action, tuple(sorted(form.fields))), form)
        queue += [p for p in map(_local, parser.links) if p and p not in seen]
    return list(forms.values())


# Forms that end the session they are sent in when they succeed: fuzzed last, one after the other
# (budi's two-step verification is set up once per test, so a lost session cannot be made again).
SESSION_ENDERS = ("/sessions/end", "/account/delete", "/two-step/disable", "/end-sessions")


def ends_session(form: Form) -> bool:
    return any(part in urlsplit(form.action).path for part in SESSION_ENDERS)


@pytest.fixture
def signed_in(app: Flask) -> Callable[[], FlaskClient]:
    """A function giving budi's browser (signed in with two-step verification)."""
    made: list[FlaskClient] = []

    def get() -> FlaskClient:
        if not made:
            made.append(admin(app))
        return made[-1]

    return get


@pytest.fixture
def forms(app: Flask, signed_in: Callable[[], FlaskClient]) -> list[Form]:
    browser = signed_in()
    page = browser.get("/portal")
    from tests.citizen.helpers import csrf

    browser.post("/portal/teams", data={"csrf_token": csrf(page.data), "name": "Fuzz team"})
    found = crawl(browser, app)
    assert len(found) >= 10, [f.action for f in found]
    return found


def test_forms_were_found(forms: list[Form]) -> None:
    actions = {urlsplit(f.action).path for f in forms}
    for expected in ("/account/sessions/end-all", "/account/two-step/setup", "/portal/teams",
                     "/portal/teams/1/apps/new", "/admin/people", "/admin/tokens"):
        assert expected in actions, sorted(actions)


@hostile.fuzz_settings(100)
@given(data=st.data())
def test_every_form_with_hostile_fields(app: Flask, forms: list[Form], signed_in: Callable[[], FlaskClient],
                                       data: st.DataObject) -> None:
    form = data.draw(st.sampled_from([f for f in forms if not ends_session(f)]), label="form")
    body: dict[str, Any] = {}
    for name, known in form.fields.items():  # everything drawn before any request (same draws on replay)
        if name == "csrf_token":
            continue
        choice = data.draw(st.sampled_from(["hostile", "known", "missing", "repeated"]), label=name)
        if choice == "hostile":
            body[name] = data.draw(hostile.text, label=name)
        elif choice == "known":
            body[name] = data.draw(st.sampled_from(known), label=name)
        elif choice == "repeated":
            body[name] = data.draw(st.lists(hostile.text, min_size=2, max_size=3), label=name)
    send(signed_in(), form, body)


def send(browser: FlaskClient, form: Form, body: dict[str, Any]) -> Any:
    """POST ``body`` (a list value: the name repeated) to the form with the page's CSRF token."""
    from tests.citizen.helpers import csrf

    page = browser.get(form.page)
    if page.status_code != 200:
        return None  # the page went away (a fuzzed form deleted what it showed): nothing to send
    pairs = [(k, v) for k, values in body.items() for v in (values if isinstance(values, list) else [values])]
    encoded = b"&".join(hostile.as_form({k: v}) for k, v in [*pairs, ("csrf_token", csrf(page.data))])
    resp = browser.post(form.action, data=encoded, content_type="application/x-www-form-urlencoded")
    check(resp, (form.action, sorted(body)))
    return resp


HOSTILE_FILLS = ["\ud800", "\u00b2\u0663", "a" * 5000, "\x00", "' OR 1=1 --", "\u202e"]


def test_session_ending_forms_with_hostile_fields(forms: list[Form], signed_in: Callable[[], FlaskClient]) -> None:
    enders = [f for f in forms if ends_session(f)]
    assert enders
    browser = signed_in()
    for value in HOSTILE_FILLS:
        for form in enders:
            send(browser, form, {name: value for name in form.fields if name != "csrf_token"})
