"""Logs: IDP_LOG_FORMAT=json writes one JSON object per line with the request id; ids from outside are
echoed only when well-formed; no NIK, password, code or token reaches the log."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from idp import logs
from tests.citizen.helpers import register_and_verify, sign_in
from tests.oauth import helpers
from tests.oauth.conftest import oauth_app  # noqa: F401 - fixture


def _capture() -> io.StringIO:
    """Point the handler the app installed on the root logger at a buffer."""
    stream = io.StringIO()
    ours = [h for h in logging.getLogger().handlers if isinstance(h, logs._IdpHandler)]
    assert len(ours) == 1, "the app installs exactly one handler, however many apps were built"
    ours[0].setStream(stream)  # type: ignore[attr-defined]
    return stream


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    text = stream.getvalue()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def json_app(oauth_app: Callable[..., Flask]) -> Flask:  # noqa: F811
    return oauth_app(LOG_FORMAT="json", LOG_LEVEL="DEBUG")


def test_json_lines_carry_the_request_id(json_app: Flask) -> None:
    stream = _capture()
    client = json_app.test_client()
    resp = client.get("/nope?secret-looking=query", headers={"X-Request-ID": "lb-7f3a9c.01:x"})
    assert resp.status_code == 404
    assert resp.headers["X-Request-ID"] == "lb-7f3a9c.01:x"
    entries = _lines(stream)
    access = [e for e in entries if e["logger"] == "idp.access"]
    assert len(access) == 1
    line = access[0]
    assert line["request_id"] == "lb-7f3a9c.01:x" and line["method"] == "GET" and line["path"] == "/nope"
    assert line["status"] == 404 and line["level"] == "INFO" and isinstance(line["duration_ms"], float)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["time"])
    assert "secret-looking" not in stream.getvalue()  # query strings are never logged

    # A generated id when none is given: 32 hex digits, the same in the header and the log.
    stream.truncate(0)
    stream.seek(0)
    resp = client.get("/healthz")
    rid = resp.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", rid)
    assert [e["request_id"] for e in _lines(stream) if e["logger"] == "idp.access"] == [rid]


@pytest.mark.parametrize("hostile", [
    "x" * 129, "a b", "id\twith-tab", '"},{"level":"ERROR', "<script>", "-leading-dash", "ünïcode", "a/../b",
])
def test_hostile_request_id_is_replaced(json_app: Flask, hostile: str) -> None:
    stream = _capture()
    resp = json_app.test_client().get("/healthz", headers={"X-Request-ID": hostile})
    rid = resp.headers["X-Request-ID"]
    assert rid != hostile and re.fullmatch(r"[0-9a-f]{32}", rid)
    entries = _lines(stream)  # every line still parses
    assert [e["request_id"] for e in entries if e["logger"] == "idp.access"] == [rid]
    assert hostile not in stream.getvalue()


def test_every_line_of_a_request_has_its_id(json_app: Flask) -> None:
    """Lines of the app's own loggers during a request carry that request's id (the logging filter)."""
    stream = _capture()

    @json_app.get("/_test/log")
    def _log() -> str:
        logging.getLogger("idp.something").warning("inside %s", "the view")
        return "ok"

    json_app.test_client().get("/_test/log", headers={"X-Request-ID": "req-42"})
    logging.getLogger("idp.something").warning("outside any request")
    entries = _lines(stream)
    inside = next(e for e in entries if e["message"] == "inside the view")
    assert inside["request_id"] == "req-42" and inside["path"] == "/_test/log" and inside["level"] == "WARNING"
    outside = next(e for e in entries if e["message"] == "outside any request")
    assert "request_id" not in outside and "path" not in outside


def test_text_format_shows_the_request_id(oauth_app: Callable[..., Flask]) -> None:  # noqa: F811
    app = oauth_app(LOG_FORMAT="text", LOG_LEVEL="INFO")
    stream = _capture()

    @app.get("/_test/log")
    def _log() -> str:
        logging.getLogger("idp.something").warning("inside")
        return "ok"

    app.test_client().get("/_test/log", headers={"X-Request-ID": "req-43"})
    assert "WARNING idp.something [req-43]: inside" in stream.getvalue()
    assert "idp.access" not in stream.getvalue()  # no access log in text mode (development)


def test_no_personal_data_or_secret_in_the_log(json_app: Flask) -> None:
    """A citizen registers, fails and succeeds to sign in, an application gets tokens: the log (at DEBUG)
    holds neither the NIK, nor the password, nor a code, token or client secret."""
    stream = _capture()
    browser = json_app.test_client()
    citizen = register_and_verify(browser)
    assert sign_in(browser, citizen.nik, "wrong password entirely").status_code == 401
    assert sign_in(browser, citizen).status_code == 303

    cid, secret = helpers.create_client(json_app, first_party=True,
                                        grant_types=["authorization_code", "refresh_token", "client_credentials"])
    assert secret
    verifier, challenge = helpers.pkce_pair()
    resp = browser.get("/authorize", query_string={
        "response_type": "code", "client_id": cid, "redirect_uri": helpers.REDIRECT, "scope": "openid nik",
        "state": "st4te", "nonce": "n0nce", "code_challenge": challenge, "code_challenge_method": "S256"})
    assert resp.status_code == 302, resp.data[:300]
    code = helpers.query(resp.headers["Location"])["code"]
    resp = browser.post("/token", headers=helpers.basic(cid, secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": helpers.REDIRECT,
        "code_verifier": verifier})
    assert resp.status_code == 200, resp.get_json()
    tokens = resp.get_json()
    assert browser.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).status_code == 200
    resp = browser.post("/token", headers=helpers.basic(cid, secret),
                        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert resp.status_code == 200

    text = stream.getvalue()
    assert [e["endpoint"] for e in _lines(stream) if e["logger"] == "idp.access" and e["method"] == "POST"][-2:] \
        == ["oauth.token", "oauth.token"]
    secrets_seen = {"NIK": citizen.nik, "password": citizen.password, "secret": secret, "code": code,
                    "verifier": verifier, "access token": tokens["access_token"],
                    "refresh token": tokens["refresh_token"], "id token": tokens["id_token"],
                    "new refresh token": resp.get_json()["refresh_token"]}
    for what, value in secrets_seen.items():
        assert value not in text, f"the {what} is in the log"
    assert citizen.nik[4:12] not in text  # not even the middle (birth date) digits
