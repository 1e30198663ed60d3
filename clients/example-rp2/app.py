"""Second example relying party ("Perizinan"): code flow with Authlib, its own server-side session store,
RP-initiated logout and an OpenID Connect Back-Channel Logout 1.0 receiver."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import threading
import time
from typing import Any
from urllib.parse import urlencode

import requests
from authlib.common.errors import AuthlibBaseError as OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, Response, jsonify, redirect, render_template_string, request, url_for
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

ISSUER = os.environ.get("RP2_ISSUER", "http://127.0.0.1:5000").rstrip("/")
CLIENT_ID = os.environ.get("RP2_CLIENT_ID", "")
PORT = int(os.environ.get("RP2_PORT", "5002"))
SCOPE = os.environ.get("RP2_SCOPE", "openid profile")
COOKIE = "perizinan_sid"  # cookies ignore ports: a distinct name keeps ours apart from the provider's
# Back-Channel Logout 1.0 section 2.6: the logout token must be recent; allow a little clock skew.
MAX_AGE = 120
SKEW = 60
ALGS = ["RS256", "PS256", "ES256", "EdDSA"]  # asymmetric only: "none" and HS* are never accepted
EVENT = "http://schemas.openid.net/event/backchannel-logout"

app = Flask(__name__)
app.config["SECRET_KEY"] = os.environ.get("RP2_SECRET_KEY") or secrets.token_urlsafe(32)
oauth = OAuth(app)
oauth.register(
    "idp", client_id=CLIENT_ID, client_secret=os.environ.get("RP2_CLIENT_SECRET") or None,
    server_metadata_url=f"{ISSUER}/.well-known/openid-configuration",
    client_kwargs={"scope": SCOPE, "code_challenge_method": "S256"},
)


class Store:
    """Server-side sessions in this process: opaque cookie id -> data (claims, id_token, pending state)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, dict[str, Any]] = {}

    def get(self, key: str | None) -> dict[str, Any]:
        with self._lock:
            return dict(self._data.get(key or "", {}))

    def put(self, key: str, value: dict[str, Any]) -> None:
        with self._lock:
            self._data[key] = dict(value)

    def drop(self, key: str | None) -> None:
        with self._lock:
            self._data.pop(key or "", None)

    def drop_matching(self, sid: str | None, sub: str | None) -> int:
        """Drop every signed-in session of ``sid`` (or of ``sub`` when no sid was sent); count them."""
        with self._lock:
            gone = [k for k, v in self._data.items() if "claims" in v and (
                (sid is not None and v["claims"].get("sid") == sid and (sub is None or v["claims"].get("sub") == sub))
                or (sid is None and v["claims"].get("sub") == sub))]
            for key in gone:
                del self._data[key]
            return len(gone)


store = Store()


class Keys:
    """The provider's JWKS, cached; refetched (at most every 10 s) when a token names an unknown kid."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: KeySet | None = None
        self._fetched = 0.0

    def _fetch(self) -> None:
        uri = oauth.idp.load_server_metadata()["jwks_uri"]
        response = requests.get(uri, timeout=5)
        response.raise_for_status()
        self._keys = KeySet.import_key_set(response.json())
        self._fetched = time.monotonic()

    def for_kid(self, kid: str | None) -> KeySet:
        with self._lock:
            known = self._keys is not None and (kid is None or any(k.kid == kid for k in self._keys.keys))
            if not known and (self._keys is None or time.monotonic() - self._fetched > 10):
                self._fetch()
            assert self._keys is not None
            return self._keys


keys = Keys()

# Indonesian by default; ``?lang=en`` switches to English (a cookie remembers it).
TEXT = {
    "id": {"error": "Galat", "as": "Masuk sebagai", "logout": "Keluar", "login": "Masuk dengan SSO Banten",
           "switch": "English", "switch_to": "en"},
    "en": {"error": "Error", "as": "Signed in as", "logout": "Sign out", "login": "Sign in with Banten SSO",
           "switch": "Bahasa Indonesia", "switch_to": "id"},
}
PAGE = """<!doctype html><html lang="{{ lang }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Perizinan</title></head>
<body><p style="float:right"><a id="lang" href="{{ url_for('index', lang=t.switch_to) }}">{{ t.switch }}</a></p>
<h1>Perizinan</h1>
{% if error %}<p id="error">{{ t.error }}: <code>{{ error }}</code></p>{% endif %}
{% if claims %}<p>{{ t["as"] }} <span id="name">{{ claims.name }}</span>.
<code id="sub">sub = {{ claims.sub }}</code> <code id="auth-time">auth_time = {{ claims.auth_time }}</code></p>
<p><a id="logout" href="{{ url_for('logout') }}">{{ t.logout }}</a></p>
{% else %}<p><a id="login" href="{{ url_for('login') }}">{{ t.login }}</a></p>{% endif %}
</body></html>"""
LANG_COOKIE = "perizinan_lang"


def _lang() -> str:
    wanted = request.args.get("lang") or request.cookies.get(LANG_COOKIE)
    return wanted if wanted in TEXT else "id"


def _session() -> tuple[str, dict[str, Any]]:
    key = request.cookies.get(COOKIE) or ""
    data = store.get(key)
    if not data:
        key = secrets.token_urlsafe(32)
    return key, data


def _with_cookie(response: Response, key: str) -> Response:
    response.set_cookie(COOKIE, key, httponly=True, samesite="Lax")
    return response


@app.get("/")
def index() -> Response:
    """Home: the signed-in user's sub and name, or a sign-in link."""
    key, data = _session()
    lang = _lang()
    body = render_template_string(PAGE, claims=data.get("claims"), error=request.args.get("error"), lang=lang,
                                  t=TEXT[lang])
    response = Response(body, headers={"Cache-Control": "no-store"})
    if request.args.get("lang") in TEXT:
        response.set_cookie(LANG_COOKIE, lang, httponly=True, samesite="Lax")
    return response


@app.get("/login")
def login() -> Response:
    """Start the code flow (state, nonce, PKCE kept in our own store, not in a cookie)."""
    key, data = _session()
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(48)  # RFC 7636 section 4.1: 43 to 128 characters
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    data["pending"] = {"state": state, "nonce": nonce, "verifier": verifier}
    store.put(key, data)
    params = {"client_id": CLIENT_ID, "response_type": "code", "scope": SCOPE, "state": state, "nonce": nonce,
              "redirect_uri": url_for("callback", _external=True), "code_challenge": challenge.decode(),
              "code_challenge_method": "S256"}
    for extra in ("prompt", "max_age", "login_hint", "ui_locales"):
        if extra in request.args:
            params[extra] = request.args[extra]
    if request.cookies.get(LANG_COOKIE) in TEXT:  # chosen here: the provider's pages in the same language
        params.setdefault("ui_locales", request.cookies[LANG_COOKIE])
    endpoint = oauth.idp.load_server_metadata()["authorization_endpoint"]
    return _with_cookie(redirect(f"{endpoint}?{urlencode(params)}"), key)  # type: ignore[arg-type]


@app.get("/callback")
def callback() -> Response:
    """Check state, redeem the code with PKCE and validate the ID token (Authlib checks iss/aud/nonce)."""
    key, data = _session()
    pending = data.pop("pending", None)
    if "error" in request.args:
        store.put(key, data)
        return redirect(url_for("index", error=request.args["error"]))  # type: ignore[return-value]
    if not pending or request.args.get("state") != pending["state"]:
        return redirect(url_for("index", error="state_mismatch"))  # type: ignore[return-value]
    client = oauth.idp
    try:
        token = client.fetch_access_token(redirect_uri=url_for("callback", _external=True),
                                          code=request.args.get("code", ""), code_verifier=pending["verifier"])
        claims = client.parse_id_token(token, nonce=pending["nonce"])
    except (OAuthError, JoseError, KeyError, ValueError) as exc:  # never a 500 on a bad answer
        store.put(key, data)
        return redirect(url_for("index", error=getattr(exc, "error", None) or type(exc).__name__,
                                detail=str(getattr(exc, "description", ""))[:200]))  # type: ignore[return-value]
    # A fresh store entry on sign-in (no session fixation across the login).
    store.drop(key)
    key = secrets.token_urlsafe(32)
    store.put(key, {"claims": dict(claims), "id_token": token["id_token"]})
    return _with_cookie(redirect(url_for("index")), key)  # type: ignore[arg-type]


@app.get("/logout")
def logout() -> Response:
    """RP-Initiated Logout 1.0: drop our session, then end the provider's with id_token_hint."""
    key, data = _session()
    store.drop(key)
    id_token = data.get("id_token")
    if not id_token:
        return redirect(url_for("index"))  # type: ignore[return-value]
    end = oauth.idp.load_server_metadata().get("end_session_endpoint")
    if not end:
        return redirect(url_for("index"))  # type: ignore[return-value]
    params = {"id_token_hint": id_token, "post_logout_redirect_uri": url_for("index", _external=True),
              "client_id": CLIENT_ID}
    return redirect(f"{end}?{urlencode(params)}")  # type: ignore[return-value]


def _fail(error: str) -> tuple[Response, int]:
    response = jsonify(error="invalid_request", error_description=error)
    response.headers["Cache-Control"] = "no-store"
    return response, 400


def _header(token: str) -> dict[str, Any]:
    part = token.split(".")[0]
    value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    if not isinstance(value, dict):
        raise ValueError("header")
    return value


@app.post("/backchannel-logout")
def backchannel_logout() -> Any:
    """Back-Channel Logout 1.0 section 2.6: validate the logout token, then drop the matching sessions."""
    token = request.form.get("logout_token")
    if not token or len(token) > 16384 or token.count(".") != 2:
        return _fail("missing or malformed logout_token")
    try:
        header = _header(token)
        if header.get("alg") not in ALGS:  # 2.6 step 3: reject alg none and anything unexpected
            return _fail("unacceptable alg")
        kid = header.get("kid")
        decoded = jwt.decode(token, keys.for_kid(kid if isinstance(kid, str) else None), algorithms=ALGS)
    except (JoseError, ValueError, UnicodeDecodeError, KeyError, TypeError):
        return _fail("signature not valid")
    except requests.RequestException:
        return _fail("provider keys unavailable")
    claims = decoded.claims
    now = time.time()
    aud = claims.get("aud")
    auds = aud if isinstance(aud, list) else [aud]
    events = claims.get("events")
    sid, sub = claims.get("sid"), claims.get("sub")
    iat, exp = claims.get("iat"), claims.get("exp")
    checks = (
        (claims.get("iss") == ISSUER, "wrong iss"),
        (CLIENT_ID in auds, "wrong aud"),
        (isinstance(iat, (int, float)) and not isinstance(iat, bool) and now - MAX_AGE - SKEW <= iat <= now + SKEW,
         "bad iat"),
        (isinstance(exp, (int, float)) and not isinstance(exp, bool) and exp > now - SKEW, "expired"),
        (isinstance(events, dict) and isinstance(events.get(EVENT), dict), "no back-channel logout event"),
        ("nonce" not in claims, "nonce present"),
        ((isinstance(sid, str) and sid) or (isinstance(sub, str) and sub), "neither sid nor sub"),
        (sid is None or isinstance(sid, str), "bad sid"),
        (sub is None or isinstance(sub, str), "bad sub"),
    )
    for ok, reason in checks:
        if not ok:
            return _fail(reason)
    store.drop_matching(sid or None, sub or None)
    return Response("", status=200, headers={"Cache-Control": "no-store"})


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=PORT, threaded=True)
