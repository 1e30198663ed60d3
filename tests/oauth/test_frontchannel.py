"""OpenID Connect Front-Channel Logout 1.0 at /end_session: the logout iframes, their CSP and the interstitial.

Clients are rows with the metadata written directly (the registration checks are tested in
test_frontchannel_metadata.py), so that hostile stored values can be tried too.
"""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from idp.oauth import frontchannel
from idp.web import middleware

from . import helpers
from .conftest import RP

ISS = "http://127.0.0.1:5000"
FC_A = "https://rp.example.org/fc?a=1&b=x%20y"
FC_B = "https://other.example.net:8443/logout/frontchannel"
FC_D = "https://d.example.com/fc"


class _Page(HTMLParser):
    """The iframes, scripts and continue link of a page, as a browser reads them."""

    def __init__(self) -> None:
        super().__init__()
        self.iframes: list[dict[str, Any]] = []
        self.scripts: list[str] = []
        self.continue_href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "iframe":
            self.iframes.append(found)
        elif tag == "script":
            self.scripts.append(found.get("src") or "")
        elif tag == "a" and found.get("id") == "frontchannel-continue":
            self.continue_href = found.get("href")


def _page(html: str) -> _Page:
    parser = _Page()
    parser.feed(html)
    return parser


def _join(rp: RP, frontchannel_logout_uri: Any = None, **metadata: Any) -> RP:
    """Another application of the same person in the same browser; it receives a code (joins the session)."""
    if frontchannel_logout_uri is not None:
        metadata["frontchannel_logout_uri"] = frontchannel_logout_uri
    client_id, secret = helpers.create_client(rp.app, first_party=True, **metadata)
    other = RP(app=rp.app, browser=rp.browser, client_id=client_id, secret=secret, person_id=rp.person_id,
               sub=rp.sub)
    other.get_code()
    return other


def _sid(id_token: str) -> str:
    """The ``sid`` claim of an ID token (its signature is tested elsewhere)."""
    payload = id_token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sid"])


def _expected(uri: str, sid: str) -> str:
    sep = "&" if "?" in uri else "?"
    return f"{uri}{sep}iss=http%3A%2F%2F127.0.0.1%3A5000&sid={sid}"


def _signed_out(rp: RP) -> bool:
    resp = rp.authorize(prompt="none")
    return helpers.query(resp.headers["Location"]).get("error") == "login_required"


@pytest.fixture
def fc_rp(make_rp) -> RP:
    return make_rp(frontchannel_logout_uri=FC_A, frontchannel_logout_session_required=True)


def test_logout_page_has_one_iframe_per_frontchannel_client_of_the_session(fc_rp) -> None:
    tokens = fc_rp.tokens()
    sid = _sid(tokens["id_token"])
    _join(fc_rp, FC_B)  # frontchannel_logout_session_required absent (false): iss and sid all the same
    _join(fc_rp)  # no frontchannel_logout_uri: no iframe
    helpers.create_client(fc_rp.app, first_party=True, frontchannel_logout_uri=FC_D)  # not in the session
    resp = fc_rp.browser.get("/end_session", query_string={"id_token_hint": tokens["id_token"], "lang": "en"})
    assert resp.status_code == 200 and "Location" not in resp.headers
    html = resp.get_data(as_text=True)
    page = _page(html)
    assert [f["src"] for f in page.iframes] == [_expected(FC_A, sid), _expected(FC_B, sid)]
    assert all("hidden" in f for f in page.iframes)
    # The frame keeps its origin (cookies) but may not navigate this page (no allow-top-navigation).
    assert all(set(f["sandbox"].split()) == {"allow-same-origin", "allow-scripts", "allow-forms"}
               for f in page.iframes)
    # The iss and sid query parameters (Front-Channel Logout 2), next to the URI's own query.
    query = dict(parse_qsl(urlsplit(page.iframes[0]["src"]).query))
    assert query == {"a": "1", "b": "x y", "iss": ISS, "sid": sid}
    assert "fc?a=1&amp;b=x%20y&amp;iss=" in html  # escaped in the attribute
    assert FC_D not in html
    assert "/static/js/frontchannel_logout.js" in page.scripts
    assert page.continue_href is None and "signed out" in html
    assert resp.headers["Content-Security-Policy"] == (
        middleware.CSP + "; frame-src https://rp.example.org https://other.example.net:8443")
    assert resp.headers["X-Frame-Options"] == "DENY" and resp.headers["Cache-Control"] == "no-store"
    assert "idp_session=;" in resp.headers.get("Set-Cookie", "")
    assert _signed_out(fc_rp)


def test_post_logout_redirect_uri_waits_for_the_iframes_and_keeps_state(fc_rp) -> None:
    tokens = fc_rp.tokens()
    sid = _sid(tokens["id_token"])
    resp = fc_rp.browser.get("/end_session", query_string={
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": helpers.LOGOUT_REDIRECT,
        "state": "bye & <1>", "client_id": fc_rp.client_id, "lang": "en"})
    assert resp.status_code == 200 and "Location" not in resp.headers
    html = resp.get_data(as_text=True)
    page = _page(html)
    assert [f["src"] for f in page.iframes] == [_expected(FC_A, sid)]
    assert page.continue_href == helpers.LOGOUT_REDIRECT + "?state=bye+%26+%3C1%3E"
    assert "<1>" not in html
    assert 'data-continue-after="3000"' in html
    assert "You will continue in a moment." in html
    assert "/static/js/frontchannel_logout.js" in page.scripts
    assert resp.headers["Content-Security-Policy"] == middleware.CSP + "; frame-src https://rp.example.org"
    assert _signed_out(fc_rp)


def test_confirmed_logout_without_hint_shows_the_iframes(fc_rp) -> None:
    fc_rp.get_code()
    html = fc_rp.browser.get("/end_session", query_string={
        "client_id": fc_rp.client_id, "post_logout_redirect_uri": helpers.LOGOUT_REDIRECT, "state": "s1"}
    ).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
    resp = fc_rp.browser.post("/end_session", data={**fields, "csrf_token": csrf})
    assert resp.status_code == 200
    page = _page(resp.get_data(as_text=True))
    assert len(page.iframes) == 1 and page.iframes[0]["src"].startswith(FC_A + "&iss=")
    assert page.continue_href == helpers.LOGOUT_REDIRECT + "?state=s1"
    assert _signed_out(fc_rp)


def test_no_frontchannel_client_in_the_session_keeps_the_redirect(make_rp) -> None:
    rp = make_rp()  # no frontchannel_logout_uri
    helpers.create_client(rp.app, first_party=True, frontchannel_logout_uri=FC_D)  # not in the session
    hint = rp.tokens()["id_token"]
    resp = rp.browser.get("/end_session", query_string={
        "id_token_hint": hint, "post_logout_redirect_uri": helpers.LOGOUT_REDIRECT, "state": "s2"})
    assert resp.status_code == 302 and resp.headers["Location"] == helpers.LOGOUT_REDIRECT + "?state=s2"
    assert resp.headers["Content-Security-Policy"] == middleware.CSP


def test_nobody_signed_in_has_no_iframes(fc_rp) -> None:
    hint = fc_rp.tokens()["id_token"]
    fc_rp.browser.get("/end_session", query_string={"id_token_hint": hint})
    resp = fc_rp.browser.get("/end_session", query_string={"id_token_hint": hint})  # already signed out
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/logged_out")
    page = fc_rp.browser.get("/logged_out")
    assert page.status_code == 200 and "<iframe" not in page.get_data(as_text=True)
    assert page.headers["Content-Security-Policy"] == middleware.CSP


def test_unredirectable_request_never_shows_iframes(fc_rp) -> None:
    hint = fc_rp.tokens()["id_token"]
    resp = fc_rp.browser.get("/end_session", query_string={"id_token_hint": hint,
                                                            "post_logout_redirect_uri": "https://evil.example/"})
    assert resp.status_code == 400 and "<iframe" not in resp.get_data(as_text=True)
    assert not _signed_out(fc_rp)


HOSTILE = [
    "javascript:alert(1)",
    'https://rp.example.org/fc?x="><script>alert(1)</script>',
    "https://rp.example.org/fc?x=<script>alert(1)</script>",
    "http://evil.example/fc",  # http is only for loopback hosts
    "https://evil.example\\.rp.example.org/fc",
    "https://rp.example.org/fc#fragment",
    "https://user:pw@rp.example.org/fc",
    "https://rp.example.org:99999/fc",
    "https://rp.example.org;script-src */fc",
    "https://rp.example.org,https://evil.example/fc",
    "https://*.example.org/fc",
    "https://exa mple.org/fc",
    "https://rp.example.org/fc\r\nX-Injected: 1",
    "data:text/html,<script>alert(1)</script>",
    "//rp.example.org/fc",
    "https:///fc",
    "https://" + "a" * 3000 + ".example/",
    "https://evil.example/' onload='alert(1)",
    "",
    123,
    ["https://rp.example.org/fc"],
    {"uri": "https://rp.example.org/fc"},
    True,
]


def test_hostile_stored_uris_do_not_break_the_page(fc_rp) -> None:
    tokens = fc_rp.tokens()
    sid = _sid(tokens["id_token"])
    for value in HOSTILE:
        _join(fc_rp, value)
    resp = fc_rp.browser.get("/end_session", query_string={"id_token_hint": tokens["id_token"],
                                                            "post_logout_redirect_uri": helpers.LOGOUT_REDIRECT})
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    page = _page(html)
    assert [f["src"] for f in page.iframes] == [_expected(FC_A, sid)]
    assert "alert" not in html and "evil" not in html and "X-Injected" not in html
    assert resp.headers["Content-Security-Policy"] == middleware.CSP + "; frame-src https://rp.example.org"
    assert "\n" not in resp.headers["Content-Security-Policy"]
    assert page.continue_href == helpers.LOGOUT_REDIRECT


def test_quotes_in_a_valid_uri_are_escaped(make_rp) -> None:
    uri = "http://127.0.0.1:8999/fc?q='x'&iss=forged&sid=forged"
    rp = make_rp(frontchannel_logout_uri=uri)
    tokens = rp.tokens()
    sid = _sid(tokens["id_token"])
    resp = rp.browser.get("/end_session", query_string={"id_token_hint": tokens["id_token"]})
    html = resp.get_data(as_text=True)
    src = _page(html).iframes[0]["src"]
    # The registered query is kept; its own iss/sid are replaced by ours (one value each).
    assert src == f"http://127.0.0.1:8999/fc?q='x'&iss=http%3A%2F%2F127.0.0.1%3A5000&sid={sid}"
    assert "q=&#39;x&#39;" in html
    assert resp.headers["Content-Security-Policy"] == middleware.CSP + "; frame-src http://127.0.0.1:8999"


def test_disabled_client_gets_no_iframe(make_rp) -> None:
    from idp.extensions import db
    from idp.models import Client

    rp = make_rp(frontchannel_logout_uri=FC_A)
    hint = rp.tokens()["id_token"]
    other = _join(rp, FC_B)
    with rp.app.app_context():
        db.session.query(Client).filter_by(client_id=other.client_id).update({"disabled": True})
        db.session.commit()
    resp = rp.browser.get("/end_session", query_string={"id_token_hint": hint})
    assert [f["src"][:len(FC_A)] for f in _page(resp.get_data(as_text=True)).iframes] == [FC_A]


@pytest.mark.parametrize(("uri", "origin"), [
    ("https://RP.Example.org/fc", "https://rp.example.org"),
    ("https://rp.example.org:443/fc", "https://rp.example.org"),
    ("http://localhost:8080/fc", "http://localhost:8080"),
    ("http://[::1]:8080/fc", "http://[::1]:8080"),
    ("http://127.0.0.1/fc", "http://127.0.0.1"),
    ("http://10.0.0.1/fc", None),
    ("https://[fe80::1%25eth0]/fc", None),
    ("https://[2001:DB8::1]:8443/fc", "https://[2001:db8::1]:8443"),
    ("https://rp.example.org./fc", None),
    ("https://r%70.example.org/fc", None),
    ("https://rp.example.org:0/fc", None),
    ("ftp://rp.example.org/fc", None),
])
def test_origins(uri: str, origin: str | None) -> None:
    assert frontchannel.origin(uri) == origin


def test_iframes_for_several_sessions(fc_rp) -> None:
    """The account pages' "sign out everywhere" passes several ended sessions (and None entries)."""
    from idp.people.session import LoginSession

    other_id, _ = helpers.create_client(fc_rp.app, first_party=True, frontchannel_logout_uri=FC_B)
    plain_id, _ = helpers.create_client(fc_rp.app, first_party=True)

    def session(sid: str, clients: list[str]) -> LoginSession:
        return LoginSession(sid=sid, person_id=fc_rp.person_id, sub=fc_rp.sub, auth_time=0, acr="", amr=[],
                            created=0, absolute_exp=0, clients=clients)

    with fc_rp.app.test_request_context("/"):
        urls = frontchannel.iframes_for([session("s-1", [fc_rp.client_id, plain_id, fc_rp.client_id]), None,
                                         session("s-2", [other_id, "unknown", fc_rp.client_id])])
        assert urls == [_expected(FC_A, "s-1"), _expected(FC_B, "s-2"), _expected(FC_A, "s-2")]
        assert frontchannel.content_security_policy(urls) == (
            middleware.CSP + "; frame-src https://rp.example.org https://other.example.net:8443")
        assert frontchannel.signed_out_page([session("s-3", [plain_id])]) is None
        page = frontchannel.signed_out_page([session("s-4", [fc_rp.client_id])], continue_to="/")
        assert page is not None and page.status_code == 200
        assert _page(page.get_data(as_text=True)).continue_href == "/"


def test_script_is_served(app) -> None:
    resp = app.test_client().get("/static/js/frontchannel_logout.js")
    assert resp.status_code == 200 and b"frontchannel-continue" in resp.data
    resp.close()


@pytest.mark.parametrize("stored", ["javascript:alert(1)", "data:text/html,x", "https://rp.example.org/\"><b>x",
                                    "http://evil.example/"])
def test_hostile_stored_post_logout_redirect_uri_gets_no_link(make_rp, stored: str) -> None:
    """A post_logout_redirect_uri written around the registration checks is never behind the link."""
    rp = make_rp(frontchannel_logout_uri=FC_A, post_logout_redirect_uris=[stored])
    hint = rp.tokens()["id_token"]
    resp = rp.browser.get("/end_session", query_string={"id_token_hint": hint, "post_logout_redirect_uri": stored,
                                                         "state": "s"})
    assert resp.status_code == 200 and "Location" not in resp.headers
    html = resp.get_data(as_text=True)
    page = _page(html)
    assert page.continue_href is None and len(page.iframes) == 1
    # (The language switch repeats the query, URL-encoded; nothing else may carry the address.)
    assert "javascript:" not in html and "data:" not in html and "<b>" not in html
    assert "http://evil" not in html
