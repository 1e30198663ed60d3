"""The sign-in session (``sid``) kept in the store and shared by every application.

The browser holds a random secret in the ``idp_session`` cookie; the store holds the session under a
hash of that secret.  The ``sid`` claim given to applications is a different random value, so an ID
token never reveals the cookie.  A new secret is issued at every sign-in (session fixation).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from flask import Flask, Response, current_app, g, request

from .crypto import random_token

COOKIE = "idp_session"


@dataclass
class LoginSession:
    """What the provider knows about one signed-in browser."""

    sid: str
    person_id: int
    sub: str
    auth_time: int
    acr: str
    amr: list[str]
    created: int
    absolute_exp: int
    source: str = "citizen"
    remember: bool = False
    clients: list[str] = field(default_factory=list)
    secret: str = ""  # the cookie value; never stored

    def to_store(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("secret")
        return data


def _cfg(name: str) -> Any:
    return current_app.extensions["idp"].config[name]


def _store() -> Any:
    return current_app.extensions["idp"].store


def current() -> LoginSession | None:
    """The session of this request's browser, or None; extends the idle timeout."""
    if "login_session" in g:
        return g.login_session
    session: LoginSession | None = None
    secret = request.cookies.get(COOKIE)
    if secret and len(secret) < 100:
        data = _store().get("sid", secret)
        now = int(time.time())
        if data and data["absolute_exp"] > now:
            session = LoginSession(secret=secret, **data)
            _store().touch("sid", secret, _ttl(session, now))
    g.login_session = session
    return session


def _ttl(session: LoginSession, now: int) -> int:
    return max(1, min(_cfg("SESSION_IDLE_TTL"), session.absolute_exp - now))


def begin(*, person_id: int, sub: str, acr: str, amr: list[str], source: str,
          remember: bool = False) -> LoginSession:
    """Start a new session for a person who just proved a credential; any previous one ends."""
    end()
    now = int(time.time())
    session = LoginSession(
        sid=random_token(24), person_id=person_id, sub=sub, auth_time=now, acr=acr, amr=list(amr),
        created=now, absolute_exp=now + _cfg("SESSION_ABSOLUTE_TTL"), source=source, remember=remember,
        secret=random_token(32),
    )
    _store().put("sid", session.secret, session.to_store(), _ttl(session, now))
    g.login_session = session
    g.set_session_cookie = session.secret
    return session


def save(session: LoginSession) -> None:
    """Write back a changed session (new client, new auth_time)."""
    _store().put("sid", session.secret, session.to_store(), _ttl(session, int(time.time())))


def add_client(session: LoginSession, client_id: str) -> None:
    """Remember that ``client_id`` got tokens in this session (logout notifies it)."""
    if client_id not in session.clients:
        session.clients.append(client_id)
        save(session)


def end() -> LoginSession | None:
    """End this browser's session, if any, and clear the cookie."""
    session = current()
    if session is not None:
        _store().delete("sid", session.secret)
    if request.cookies.get(COOKIE):
        g.set_session_cookie = ""
    g.login_session = None
    return session


def init_app(app: Flask) -> None:
    """Write the session cookie after the view ran."""

    @app.after_request
    def _cookie(resp: Response) -> Response:
        value = g.get("set_session_cookie")
        if value is None:
            return resp
        secure = app.extensions["idp"].config["ISSUER"].startswith("https://")
        if value:
            resp.set_cookie(COOKIE, value, httponly=True, secure=secure, samesite="Lax", path="/",
                            max_age=app.extensions["idp"].config["SESSION_ABSOLUTE_TTL"])
        else:
            resp.delete_cookie(COOKIE, path="/", httponly=True, secure=secure, samesite="Lax")
        return resp
