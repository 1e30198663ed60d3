"""The sign-in session (``sid``) kept in the store and shared by every application.

The browser holds ``<sid>.<secret>`` in the ``idp_session`` cookie; the store holds the session under
(a hash of) the ``sid`` together with a SHA-256 hash of the secret, which must match.  The ``sid`` is
also the ``sid`` claim of ID tokens and logout tokens, so it must not be enough on its own: without the
secret it opens nothing.  Keying by ``sid`` lets the provider end a given session (back-channel
logout, "sign out" on the account pages, the directory sync); a per-person index (store set
``person-sids``) lists a person's sessions.  A new sid and secret are issued at every sign-in
(session fixation).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from flask import Flask, Response, g, request

from idp.crypto import random_token
from idp.extensions import setting, state

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
    ip: str | None = None  # where the sign-in came from, for the person's own sessions page
    device: str | None = None  # "Chrome on Android": a short summary, not the whole User-Agent
    secret_hash: str = ""  # SHA-256 of the cookie's secret part
    secret: str = ""  # the cookie's secret part; never stored

    def to_store(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("secret")
        return data

    @property
    def cookie(self) -> str:
        return f"{self.sid}.{self.secret}"


INDEX = "person-sids"
MAX_COOKIE = 200


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("SamsungBrowser/", "Samsung Internet"), ("Firefox/", "Firefox"),
             ("Chrome/", "Chrome"), ("Safari/", "Safari"))
_SYSTEMS = (("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("Windows", "Windows"),
            ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))


def device_of(user_agent: str | None) -> str | None:
    """A short, human summary of a User-Agent ("Chrome on Android"), or None when nothing is recognised."""
    ua = (user_agent or "")[:512]
    browser = next((name for marker, name in _BROWSERS if marker in ua), None)
    system = next((name for marker, name in _SYSTEMS if marker in ua), None)
    if browser and system:
        return f"{browser} / {system}"
    return browser or system


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_cookie(value: str | None) -> tuple[str, str] | None:
    """``(sid, secret)`` of a cookie value, or None when it cannot be one."""
    if not value or len(value) > MAX_COOKIE or value.count(".") != 1:
        return None
    sid, secret = value.split(".")
    return (sid, secret) if sid and secret else None


def _load(data: Any, secret: str | None = None) -> LoginSession | None:
    if not isinstance(data, dict):
        return None
    try:
        session = LoginSession(**{**data, "secret": secret or ""})
    except TypeError:  # written by another version: treat as no session
        return None
    if secret is not None and not hmac.compare_digest(session.secret_hash, _hash(secret)):
        return None
    return session




def current() -> LoginSession | None:
    """The session of this request's browser, or None; extends the idle timeout."""
    if "login_session" in g:
        return g.login_session
    session: LoginSession | None = None
    parts = split_cookie(request.cookies.get(COOKIE))
    if parts:
        sid, secret = parts
        found = _load(state().store.get("sid", sid), secret)
        now = int(time.time())
        if found is not None and found.absolute_exp > now:
            session = found
            state().store.touch("sid", sid, _ttl(session, now))
    g.login_session = session
    return session


def read(cookie_value: str | None) -> LoginSession | None:
    """The session a cookie value names (secret checked), without touching it: for tools and tests."""
    parts = split_cookie(cookie_value)
    return _load(state().store.get("sid", parts[0]), parts[1]) if parts else None


def _ttl(session: LoginSession, now: int) -> int:
    idle = session.absolute_exp - now if session.remember else setting("SESSION_IDLE_TTL")
    return max(1, min(idle, session.absolute_exp - now))


def begin(*, person_id: int, sub: str, acr: str, amr: list[str], source: str,
          remember: bool = False) -> LoginSession:
    """Start a new session for a person who just proved a credential; this browser's previous one ends.

    The caller deals with the consequences of the previous session's end (``idp.people.signout``).
    """
    end()
    now = int(time.time())
    secret = random_token(32)
    session = LoginSession(
        sid=random_token(24), person_id=person_id, sub=sub, auth_time=now, acr=acr, amr=list(amr),
        created=now, absolute_exp=now + setting("SESSION_REMEMBER_TTL" if remember else "SESSION_ABSOLUTE_TTL"),
        source=source, remember=remember, ip=(request.remote_addr or "")[:64] or None,
        device=device_of(request.headers.get("User-Agent")), secret_hash=_hash(secret), secret=secret,
    )
    state().store.put("sid", session.sid, session.to_store(), _ttl(session, now))
    state().store.set_add(INDEX, str(person_id), session.sid, session.absolute_exp - now)
    g.login_session = session
    g.set_session_cookie = session.cookie
    return session


def reauthenticate(session: LoginSession, *, acr: str, amr: list[str], source: str) -> LoginSession:
    """The same person proved a credential again (``prompt=login``, ``max_age``, or simply the sign-in page).

    The session keeps its ``sid`` and its applications (so single logout still reaches every one of
    them); ``auth_time``, ``acr`` and ``amr`` are updated (OpenID Connect Core 3.1.2.1), and the cookie
    secret is replaced (a fresh proof deserves a fresh secret, as at a new sign-in).
    """
    now = int(time.time())
    secret = random_token(32)
    session.auth_time, session.acr, session.amr, session.source = now, acr, list(amr), source
    session.secret, session.secret_hash = secret, _hash(secret)
    save(session)
    g.login_session = session
    g.set_session_cookie = session.cookie
    return session


def keep_alive(sid: str | None) -> None:
    """An application refreshed tokens of session ``sid``: the person is still at work, so the idle
    timeout starts again (the absolute timeout still holds).

    Without this, a person busy in one application for longer than ``IDP_SESSION_IDLE_TTL`` would see
    the provider's session idle out, and the expiry notice would sign them out of that application.
    """
    if not sid or len(sid) >= MAX_COOKIE:
        return
    found = _load(state().store.get("sid", sid))
    now = int(time.time())
    if found is not None and found.absolute_exp > now:
        state().store.touch("sid", sid, _ttl(found, now))


def save(session: LoginSession) -> None:
    """Write back a changed session (new client, new auth_time)."""
    state().store.put("sid", session.sid, session.to_store(), _ttl(session, int(time.time())))


def add_client(session: LoginSession, client_id: str) -> bool:
    """Remember that ``client_id`` got tokens in this session (logout notifies it); True when it is new.

    The caller then lets the protocol layer watch the session (``idp.oauth.backchannel.watch``), so that
    its expiry, too, reaches the applications (Back-Channel Logout 2.7).
    """
    if client_id in session.clients:
        return False
    session.clients.append(client_id)
    save(session)
    return True


def discard(session: LoginSession) -> None:
    """Delete the session's store record and index entry (whether or not the record is still there)."""
    state().store.delete("sid", session.sid)
    state().store.set_remove(INDEX, str(session.person_id), session.sid)


def end() -> LoginSession | None:
    """End this browser's session, if any, and clear the cookie; the ended session (for idp.people.signout)."""
    session = current()
    if session is not None:
        discard(session)
    if request.cookies.get(COOKIE):
        g.set_session_cookie = ""
    g.login_session = None
    return session


def sessions_of(person_id: int) -> list[LoginSession]:
    """Every live session of a person (index members whose session is gone are pruned), oldest first."""
    members = sorted(state().store.set_members(INDEX, str(person_id)))
    if not members:
        return []
    found: list[LoginSession] = []
    now = int(time.time())
    for sid, data in zip(members, state().store.get_many([("sid", sid) for sid in members]), strict=True):
        session = _load(data)
        if session is None or session.person_id != person_id or session.absolute_exp <= now:
            state().store.set_remove(INDEX, str(person_id), sid)
            continue
        found.append(session)
    return sorted(found, key=lambda s: (s.created, s.sid))


def end_sid(sid: str) -> LoginSession | None:
    """End the session ``sid`` wherever its browser is; the ended session, or None."""
    session = _load(state().store.take("sid", sid)) if sid and len(sid) < MAX_COOKIE else None
    if session is not None:
        state().store.set_remove(INDEX, str(session.person_id), sid)
    if session is not None and g.get("login_session") is not None and g.login_session.sid == sid:
        g.login_session = None
    return session


def end_all(person_id: int, except_sid: str | None = None) -> list[LoginSession]:
    """End every session of a person (but ``except_sid``); the ended sessions, for idp.people.signout."""
    ended = []
    for session in sessions_of(person_id):
        if session.sid != except_sid:
            gone = end_sid(session.sid)
            if gone is not None:
                ended.append(gone)
    return ended


def init_app(app: Flask) -> None:
    """Write the session cookie after the view ran."""

    @app.after_request
    def _cookie(resp: Response) -> Response:
        value = g.get("set_session_cookie")
        if value is None:
            return resp
        secure = state(app).config["ISSUER"].startswith("https://")
        if value:
            # A browser-session cookie (gone when the browser closes) unless the person chose
            # "remember me": then it lives as long as the session may.
            session = g.get("login_session")
            max_age = session.absolute_exp - int(time.time()) if session is not None and session.remember else None
            resp.set_cookie(COOKIE, value, httponly=True, secure=secure, samesite="Lax", path="/",
                            max_age=max_age)
        else:
            resp.delete_cookie(COOKIE, path="/", httponly=True, secure=secure, samesite="Lax")
        return resp
