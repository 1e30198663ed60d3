"""Example relying party: signs a person in at the idp with Authlib's Flask client (code flow + PKCE S256)."""

from __future__ import annotations

import json
import os
import secrets
from urllib.parse import urlencode

from authlib.integrations.flask_client import OAuth
from flask import Flask, abort, redirect, render_template_string, request, session, url_for

ISSUER = os.environ.get("RP_ISSUER", "http://127.0.0.1:5000").rstrip("/")
PORT = int(os.environ.get("RP_PORT", "5001"))

app = Flask(__name__)
app.config.update(
    SECRET_KEY=os.environ.get("RP_SECRET_KEY") or secrets.token_urlsafe(32),
    # Cookies ignore ports: on 127.0.0.1 the provider's cookie must not be overwritten by ours.
    SESSION_COOKIE_NAME="example_rp_session",
)
oauth = OAuth(app)
oauth.register(
    "idp",
    client_id=os.environ.get("RP_CLIENT_ID"),
    client_secret=os.environ.get("RP_CLIENT_SECRET") or None,
    server_metadata_url=f"{ISSUER}/.well-known/openid-configuration",
    client_kwargs={"scope": os.environ.get("RP_SCOPES", "openid profile email"),
                   "code_challenge_method": "S256"},
)

PAGE = """<!doctype html><html lang="id"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Contoh Aplikasi</title>
<style>body{font-family:sans-serif;margin:1rem;max-width:40rem}pre{white-space:pre-wrap;word-break:break-all;
background:#f4f4f4;padding:.5rem}a.button{display:inline-block;padding:.6rem 1rem;background:#0b5;color:#fff;
text-decoration:none;border-radius:4px}</style></head><body><h1>Contoh Aplikasi</h1>
{% if error %}<p id="error">Error: <code>{{ error }}</code></p>{% endif %}
{% if claims %}<p>Signed in. <code id="sub">sub = {{ claims.sub }}</code></p>
<h2>ID token claims</h2><pre id="claims">{{ claims_json }}</pre>
<h2>UserInfo</h2><pre id="userinfo">{{ userinfo_json }}</pre>
<p><a class="button" id="logout" href="{{ url_for('logout') }}">Sign out</a></p>
{% else %}<p><a class="button" id="login" href="{{ url_for('login') }}">Sign in with Banten SSO</a></p>{% endif %}
</body></html>"""


@app.get("/")
def index():  # type: ignore[no-untyped-def]
    """Home: the claims when signed in, else a sign-in button; shows an error passed back by the provider."""
    claims = session.get("claims")
    return render_template_string(
        PAGE, claims=claims, error=request.args.get("error"),
        claims_json=json.dumps(claims, indent=2, ensure_ascii=False),
        userinfo_json=json.dumps(session.get("userinfo"), indent=2, ensure_ascii=False))


@app.get("/login")
def login():  # type: ignore[no-untyped-def]
    """Send the browser to the provider's authorization endpoint (Authlib adds state, nonce and PKCE)."""
    extra = {k: request.args[k] for k in ("prompt", "ui_locales", "login_hint") if k in request.args}
    return oauth.idp.authorize_redirect(url_for("callback", _external=True), **extra)


@app.get("/callback")
def callback():  # type: ignore[no-untyped-def]
    """Redeem the code, validate the ID token, then call UserInfo."""
    if "error" in request.args:  # e.g. login_required after prompt=none (OIDC Core 3.1.2.6)
        return redirect(url_for("index", error=request.args["error"]))
    token = oauth.idp.authorize_access_token()
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


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=PORT)
