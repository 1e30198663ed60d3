"""HEAD is answered as GET without the body (RFC 9110 9.3.2) on every GET route of the app: the GET's
status (a 400 only where the GET itself is one, e.g. a link without its token), never the 400 a form
view gave when it took the HEAD for a POST without fields, never a 500."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import IntegerConverter

from idp.oauth import keys
from tests.account.conftest import english, signed_in_citizen
from tests.oauth.conftest import TEST_DATA_KEY


@pytest.fixture
def full_app(make_app: Callable[..., Flask]) -> Flask:
    app = make_app(DATA_KEYS=[TEST_DATA_KEY])
    with app.app_context():
        keys.ensure()
    return app


def get_urls(app: Flask) -> Iterator[tuple[str, str]]:
    """(endpoint, URL) of every GET route, path variables filled with a harmless value."""
    adapter = app.url_map.bind("127.0.0.1")
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" not in (rule.methods or ()) or rule.endpoint == "static":
            continue
        values = {name: 1 if isinstance(conv, IntegerConverter) else "x" for name, conv in rule._converters.items()}
        yield rule.endpoint, adapter.build(rule.endpoint, values)


def check_head(app: Flask, make_browser: Callable[[], FlaskClient]) -> list[str]:
    problems = []
    for endpoint, url in get_urls(app):
        head = make_browser().head(url)
        get = make_browser().get(url)
        if head.status_code >= 500 or head.status_code != get.status_code or head.data:
            problems.append(f"{endpoint} {url}: HEAD {head.status_code} ({len(head.data)} B), GET {get.status_code}")
    return problems


def test_head_login_is_get_without_body(full_app: Flask) -> None:
    browser = english(full_app)
    head, get = browser.head("/login"), browser.get("/login")
    assert head.status_code == get.status_code == 200
    assert head.data == b"" and head.headers["Content-Type"] == get.headers["Content-Type"]
    assert int(head.headers["Content-Length"]) > 0  # the length the GET body has (RFC 9110 8.6)


def test_head_on_every_get_route_anonymous(full_app: Flask) -> None:
    urls = list(get_urls(full_app))
    assert len(urls) > 20 and ("auth.login", "/login") in urls
    assert check_head(full_app, lambda: english(full_app)) == []


def test_head_on_every_get_route_signed_in(full_app: Flask) -> None:
    browser, _citizen = signed_in_citizen(full_app)
    assert check_head(full_app, lambda: browser) == []
