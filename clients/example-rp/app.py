"""Example relying party: signs a person in at the idp with Authlib's Flask client (code flow + PKCE S256).

It also receives OpenID Connect Front-Channel Logout 1.0 (``/frontchannel-logout``): the provider's
signed-out page loads that address in a hidden iframe with ``iss`` and ``sid``.  The iframe is a
cross-site request, in which browsers do not send a SameSite=Lax cookie (and many block third-party
cookies altogether), so the application keys the logout by ``sid`` on its own side: the ``sid`` is
remembered as ended, and a session cookie whose ID token carries that ``sid`` is dropped at its next
request.  With ``RP_HTTPS=1`` the session cookie is ``SameSite=None; Secure`` so that, where the
browser allows third-party cookies, the iframe also clears it at once.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from urllib.parse import urlencode, urlsplit

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, Response, abort, redirect, render_template_string, request, session, url_for

ISSUER = os.environ.get("RP_ISSUER", "http://127.0.0.1:5000").rstrip("/")
PORT = int(os.environ.get("RP_PORT", "5001"))
HTTPS = os.environ.get("RP_HTTPS") == "1"  # served over https (behind a proxy): cross-site cookies possible

log = logging.getLogger("example_rp")

app = Flask(__name__)
app.config.update(
    SECRET_KEY=os.environ.get("RP_SECRET_KEY") or secrets.token_urlsafe(32),
    # Cookies ignore ports: on 127.0.0.1 the provider's cookie must not be overwritten by ours.
    SESSION_COOKIE_NAME="example_rp_session",
    SESSION_COOKIE_SECURE=HTTPS,
)
if HTTPS:
    # SameSite=None needs Secure (https).  Otherwise the cookie has no SameSite attribute, which browsers
    # treat as Lax: front-channel logout then works through the sid kept on the server (EndedSessions).
    app.config["SESSION_COOKIE_SAMESITE"] = "None"


class EndedSessions:
    """The provider sessions (``sid``) that ended, kept on the server for as long as a session may last.

    In one process and in memory, as fits an example; an application with several processes keeps
    this in its shared store (database, Redis).
    """

    def __init__(self, ttl: float = 24 * 3600, limit: int = 100_000) -> None:
        self._ended: dict[str, float] = {}
        self._ttl = ttl
        self._limit = limit
        self._lock = threading.Lock()

    def add(self, sid: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._ended) >= self._limit:
                self._ended = {k: t for k, t in self._ended.items() if now - t < self._ttl}
                if len(self._ended) >= self._limit:
                    return
            self._ended[sid] = now

    def __contains__(self, sid: object) -> bool:
        with self._lock:
            added = self._ended.get(sid) if isinstance(sid, str) else None
            return added is not None and time.monotonic() - added < self._ttl


ENDED = EndedSessions()
oauth = OAuth(app)
oauth.register(
    "idp",
    client_id=os.environ.get("RP_CLIENT_ID"),
    client_secret=os.environ.get("RP_CLIENT_SECRET") or None,
    server_metadata_url=f"{ISSUER}/.well-known/openid-configuration",
    client_kwargs={"scope": os.environ.get("RP_SCOPES", "openid profile email"),
                   "code_challenge_method": "S256"},
)

@app.before_request
def _drop_ended_session() -> None:
    """A session whose provider session ended (front-channel logout, maybe in another browser tab) is gone."""
    claims = session.get("claims")
    if claims and claims.get("sid") in ENDED:
        session.clear()


# The page speaks Indonesian like the provider and the README; ``?lang=en`` switches to English (kept in
# the session, and passed to the provider as ``ui_locales``, OIDC Core 3.1.2.1).
TEXT = {
    "id": {"error": "Galat", "signed_in": "Anda sudah masuk.", "claims": "Klaim ID token",
           "logout": "Keluar", "login": "Masuk dengan SSO Banten", "switch": "English", "switch_to": "en"},
    "en": {"error": "Error", "signed_in": "Signed in.", "claims": "ID token claims",
           "logout": "Sign out", "login": "Sign in with Banten SSO", "switch": "Bahasa Indonesia", "switch_to": "id"},
}

PAGE = """<!doctype html><html lang="{{ lang }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Contoh Aplikasi</title>
<style>body{font-family:sans-serif;margin:1rem;max-width:40rem}pre{white-space:pre-wrap;word-break:break-all;
background:#f4f4f4;padding:.5rem}a.button{display:inline-block;padding:.6rem 1rem;background:#0b5;color:#fff;
text-decoration:none;border-radius:4px}</style></head><body>
<p style="float:right"><a id="lang" href="{{ url_for('index', lang=t.switch_to) }}">{{ t.switch }}</a></p>
<h1>Contoh Aplikasi</h1>
{% if error %}<p id="error">{{ t.error }}: <code>{{ error }}</code></p>{% endif %}
{% if claims %}<p>{{ t.signed_in }} <code id="sub">sub = {{ claims.sub }}</code></p>
<h2>{{ t.claims }}</h2><pre id="claims">{{ claims_json }}</pre>
<h2>UserInfo</h2><pre id="userinfo">{{ userinfo_json }}</pre>
<p><a class="button" id="logout" href="{{ url_for('logout') }}">{{ t.logout }}</a></p>
{% else %}<p><a class="button" id="login" href="{{ url_for('login') }}">{{ t.login }}</a></p>{% endif %}
</body></html>"""


def _lang() -> str:
    """The page's language: ``?lang=`` (remembered), else the session's, else Indonesian."""
    wanted = request.args.get("lang")
    if wanted in TEXT:
        session["lang"] = wanted
    lang = session.get("lang")
    return lang if lang in TEXT else "id"


@app.get("/")
def index():  # type: ignore[no-untyped-def]
    """Home: the claims when signed in, else a sign-in button; shows an error passed back by the provider."""
    claims = session.get("claims")
    lang = _lang()
    return render_template_string(
        PAGE, claims=claims, error=request.args.get("error"), lang=lang, t=TEXT[lang],
        claims_json=json.dumps(claims, indent=2, ensure_ascii=False),
        userinfo_json=json.dumps(session.get("userinfo"), indent=2, ensure_ascii=False))


@app.get("/login")
def login():  # type: ignore[no-untyped-def]
    """Send the browser to the provider's authorization endpoint (Authlib adds state, nonce and PKCE)."""
    extra = {k: request.args[k] for k in ("prompt", "ui_locales", "login_hint") if k in request.args}
    if session.get("lang") in TEXT:  # chosen here: the provider's pages in the same language
        extra.setdefault("ui_locales", session["lang"])
    return oauth.idp.authorize_redirect(url_for("callback", _external=True), **extra)


@app.get("/callback")
def callback():  # type: ignore[no-untyped-def]
    """Redeem the code, validate the ID token, then call UserInfo."""
    if "error" in request.args:  # e.g. login_required after prompt=none (OIDC Core 3.1.2.6)
        return redirect(url_for("index", error=request.args["error"]))
    try:
        token = oauth.idp.authorize_access_token()
    except OAuthError as exc:  # e.g. invalid_client when the secret was rotated and its grace ended
        return redirect(url_for("index", error=exc.error))
    session["claims"] = dict(token["userinfo"])
    session["id_token"] = token["id_token"]
    session["userinfo"] = dict(oauth.idp.userinfo(token=token))
    return redirect(url_for("index"))


@app.get("/logout")
def logout():  # type: ignore[no-untyped-def]
    """RP-Initiated Logout 1.0: end the provider session with id_token_hint, then come back here."""
    id_token = session.pop("id_token", None)
    session.clear()
    if not id_token:
        return redirect(url_for("index"))
    state = secrets.token_urlsafe(16)
    session["logout_state"] = state
    end = oauth.idp.load_server_metadata().get("end_session_endpoint")
    if not end:
        abort(500)
    params = {"id_token_hint": id_token, "post_logout_redirect_uri": url_for("index", _external=True),
              "state": state}
    return redirect(f"{end}?{urlencode(params)}")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@app.get("/frontchannel-logout")
def frontchannel_logout():  # type: ignore[no-untyped-def]
    """OpenID Connect Front-Channel Logout 1.0 (section 2): the provider's page loads this in an iframe.

    ``iss`` must be our provider; ``sid`` is the ``sid`` claim of the ID token the provider issued in
    the session that ended.  The ``sid`` is kept as ended (the cookie usually does not reach a
    cross-site iframe); when the cookie did arrive, the session is cleared here too.
    """
    iss, sid = request.args.get("iss"), request.args.get("sid")
    if iss != ISSUER or (sid is not None and not 0 < len(sid) <= 200):
        log.warning("front-channel logout refused: iss=%r", iss)
        abort(400)
    if sid:
        ENDED.add(sid)
    claims = session.get("claims") or {}
    cleared = bool(claims) and (sid is None or claims.get("sid") == sid)
    if cleared:
        session.clear()
    log.info("front-channel logout iss=%s sid=%s cookie_cleared=%s", iss, sid, cleared)
    resp = Response("<!doctype html><title>Signed out</title>", mimetype="text/html")
    # Section 2: the response SHOULD NOT be cached.
    resp.headers["Cache-Control"] = "no-cache, no-store"
    resp.headers["Pragma"] = "no-cache"
    # Only the provider may frame this page.
    resp.headers["Content-Security-Policy"] = f"frame-ancestors {_origin(ISSUER)}"
    return resp


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app.run(host="127.0.0.1", port=PORT)
