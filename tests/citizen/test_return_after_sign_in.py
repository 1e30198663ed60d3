"""After sign-in the person returns to the provider page that sent them (``/login?next=``), never to
another site (RFC 9700 4.11: no open redirect)."""

from __future__ import annotations

import pytest

from idp.web.common import safe_next

from .helpers import csrf, register_and_verify


@pytest.mark.parametrize("value, expected", [
    ("/account", "/account"),
    ("/portal/apps/3?tab=keys", "/portal/apps/3?tab=keys"),
    ("//evil.example/x", None),
    ("/\\evil.example", None),
    ("/x\\y", None),
    ("https://evil.example/", None),
    ("javascript:alert(1)", None),
    ("/a\r\nLocation: https://evil.example", None),
    ("/ö", None),
    ("/" + "a" * 600, None),
    ("", None),
    (None, None),
    (["/account"], None),
])
def test_safe_next(value, expected) -> None:
    assert safe_next(value) == expected


@pytest.mark.parametrize("wanted, lands", [("/account/sessions", "/account/sessions"),
                                           ("//evil.example/", "/")])
def test_sign_in_returns_to_next(make_app, wanted: str, lands: str) -> None:
    app = make_app()
    client = app.test_client()
    citizen = register_and_verify(client)
    page = client.get("/login", query_string={"next": wanted})
    resp = client.post("/login", data={"csrf_token": csrf(page.data), "kind": "citizen",
                                       "identifier": citizen.nik, "password": citizen.password, "req": ""})
    assert resp.status_code == 303 and resp.headers["Location"] == lands
