"""OpenID Connect Front-Channel Logout 1.0 client metadata (section 2) in RFC 7591/7592 and discovery (3)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from idp.oauth import registration

from .test_registration import GOOD, iat, register, with_

RP = "https://rp.example.org"

# (id, changes to GOOD, expected error or None for success, expected stored frontchannel fields)
CASES: list[tuple[str, dict[str, Any], str | None, dict[str, Any]]] = [
    ("absent", {}, None, {}),
    ("same origin", {"frontchannel_logout_uri": RP + "/fc"}, None,
     {"frontchannel_logout_uri": RP + "/fc", "frontchannel_logout_session_required": False}),
    ("with query", {"frontchannel_logout_uri": RP + "/fc?app=1"}, None,
     {"frontchannel_logout_uri": RP + "/fc?app=1", "frontchannel_logout_session_required": False}),
    ("explicit default port", {"frontchannel_logout_uri": "https://RP.example.org:443/fc"}, None,
     {"frontchannel_logout_uri": "https://RP.example.org:443/fc", "frontchannel_logout_session_required": False}),
    ("session required", {"frontchannel_logout_uri": RP + "/fc", "frontchannel_logout_session_required": True},
     None, {"frontchannel_logout_uri": RP + "/fc", "frontchannel_logout_session_required": True}),
    ("session not required", {"frontchannel_logout_uri": RP + "/fc",
                              "frontchannel_logout_session_required": False}, None,
     {"frontchannel_logout_uri": RP + "/fc", "frontchannel_logout_session_required": False}),
    ("loopback http", {"redirect_uris": ["http://127.0.0.1:8080/cb"],
                       "frontchannel_logout_uri": "http://127.0.0.1:8080/fc"}, None,
     {"frontchannel_logout_uri": "http://127.0.0.1:8080/fc", "frontchannel_logout_session_required": False}),
    ("false alone", {"frontchannel_logout_session_required": False}, None, {}),
    # hostile or wrong values
    ("other host", {"frontchannel_logout_uri": "https://evil.example/fc"}, "invalid_client_metadata", {}),
    ("sub-domain", {"frontchannel_logout_uri": "https://a.rp.example.org/fc"}, "invalid_client_metadata", {}),
    ("lookalike host", {"frontchannel_logout_uri": "https://rp.example.org.evil.example/fc"},
     "invalid_client_metadata", {}),
    ("other port", {"frontchannel_logout_uri": "https://rp.example.org:8443/fc"}, "invalid_client_metadata", {}),
    ("other scheme", {"redirect_uris": ["http://127.0.0.1:8080/cb"],
                      "frontchannel_logout_uri": "https://127.0.0.1:8080/fc"}, "invalid_client_metadata", {}),
    ("loopback other port", {"redirect_uris": ["http://127.0.0.1:8080/cb"],
                             "frontchannel_logout_uri": "http://127.0.0.1:9090/fc"}, "invalid_client_metadata", {}),
    ("http non-loopback", {"redirect_uris": ["https://rp.example.org/cb"],
                           "frontchannel_logout_uri": "http://rp.example.org/fc"}, "invalid_client_metadata", {}),
    ("fragment", {"frontchannel_logout_uri": RP + "/fc#x"}, "invalid_client_metadata", {}),
    ("empty fragment", {"frontchannel_logout_uri": RP + "/fc#"}, "invalid_client_metadata", {}),
    ("relative", {"frontchannel_logout_uri": "/fc"}, "invalid_client_metadata", {}),
    ("javascript", {"frontchannel_logout_uri": "javascript:alert(1)"}, "invalid_client_metadata", {}),
    ("data", {"frontchannel_logout_uri": "data:text/html,<script>alert(1)</script>"}, "invalid_client_metadata", {}),
    ("protocol relative", {"frontchannel_logout_uri": "//rp.example.org/fc"}, "invalid_client_metadata", {}),
    ("user info", {"frontchannel_logout_uri": "https://u:p@rp.example.org/fc"}, "invalid_client_metadata", {}),
    ("wildcard", {"frontchannel_logout_uri": "https://*.example.org/fc"}, "invalid_client_metadata", {}),
    ("newline", {"frontchannel_logout_uri": RP + "/fc\r\nX: y"}, "invalid_client_metadata", {}),
    ("bad port", {"frontchannel_logout_uri": "https://rp.example.org:99999/fc"}, "invalid_client_metadata", {}),
    ("overlong", {"frontchannel_logout_uri": RP + "/" + "a" * 3000}, "invalid_client_metadata", {}),
    ("empty", {"frontchannel_logout_uri": ""}, "invalid_client_metadata", {}),
    ("number", {"frontchannel_logout_uri": 42}, "invalid_client_metadata", {}),
    ("array", {"frontchannel_logout_uri": [RP + "/fc"]}, "invalid_client_metadata", {}),
    ("object", {"frontchannel_logout_uri": {"uri": RP + "/fc"}}, "invalid_client_metadata", {}),
    ("no redirect uris", {"grant_types": ["client_credentials"], "response_types": [],
                          "redirect_uris": ..., "frontchannel_logout_uri": RP + "/fc"},
     "invalid_client_metadata", {}),
    ("required as string", {"frontchannel_logout_uri": RP + "/fc",
                            "frontchannel_logout_session_required": "true"}, "invalid_client_metadata", {}),
    ("required as number", {"frontchannel_logout_uri": RP + "/fc",
                            "frontchannel_logout_session_required": 1}, "invalid_client_metadata", {}),
    ("required without uri", {"frontchannel_logout_session_required": True}, "invalid_client_metadata", {}),
]


@pytest.mark.parametrize("changes,error,stored", [pytest.param(c, e, s, id=i) for i, c, e, s in CASES])
def test_frontchannel_metadata(app: Flask, changes: dict[str, Any], error: str | None,
                               stored: dict[str, Any]) -> None:
    resp = register(app.test_client(), iat(app), with_(**changes))
    body = resp.get_json()
    if error is not None:
        assert resp.status_code == 400, body
        assert body["error"] == error
        field = next(f for f in ("frontchannel_logout_uri", "frontchannel_logout_session_required")
                     if f in body["error_description"])
        assert f"'{field}'" in body["error_description"]
        return
    assert resp.status_code == 201, body
    assert {k: v for k, v in body.items() if k.startswith("frontchannel_")} == stored
    with app.app_context():
        # What was stored validates to itself (the RFC 7592 read/update round trip).
        clean = registration.validate_metadata(with_(**changes), dynamic=True)
        assert registration.validate_metadata(clean, dynamic=True) == clean


def test_update_checks_frontchannel(app: Flask) -> None:
    """RFC 7592 2.2: an update is validated like a registration, and it replaces the front-channel fields."""
    http = app.test_client()
    body = register(http, iat(app), with_(frontchannel_logout_uri=RP + "/fc",
                                          frontchannel_logout_session_required=True)).get_json()
    uri = f"/register/{body['client_id']}"
    rat = {"Authorization": f"Bearer {body['registration_access_token']}"}
    bad = http.put(uri, headers=rat, json=dict(GOOD, client_id=body["client_id"],
                                               frontchannel_logout_uri="https://evil.example/fc"))
    assert bad.status_code == 400 and bad.get_json()["error"] == "invalid_client_metadata"
    ok = http.put(uri, headers=rat, json=dict(GOOD, client_id=body["client_id"]))
    assert ok.status_code == 200, ok.get_json()
    assert "frontchannel_logout_uri" not in ok.get_json()
    assert "frontchannel_logout_session_required" not in ok.get_json()


def test_discovery_advertises_frontchannel(client: Any) -> None:
    doc = client.get("/.well-known/openid-configuration").get_json()
    assert doc["frontchannel_logout_supported"] is True
    assert doc["frontchannel_logout_session_supported"] is True
