"""Sign in with Banten SSO: Flask + Authlib, the authorization code flow with PKCE (S256).

pip install flask authlib requests; then: APP_SECRET_KEY=... SSO_CLIENT_SECRET=... PORT=... python app.py
"""

import os

from authlib.integrations.flask_client import OAuth
from flask import Flask, redirect, session

app = Flask(__name__)
app.secret_key = os.environ["APP_SECRET_KEY"]  # signs the session cookie (state, nonce, PKCE verifier)
oauth = OAuth(app)
oauth.register(
    "sso_banten",
    server_metadata_url={{ discovery | q }},
    client_id={{ client_id | q }},
    client_secret=os.environ.get("SSO_CLIENT_SECRET"),
    client_kwargs={"scope": {{ scope | q }}, "code_challenge_method": "S256"{% if auth_method != "client_secret_basic" %},
                   "token_endpoint_auth_method": {{ auth_method | q }}{% endif %}},
)


@app.route("/")
def home():
    if "user" not in session:
        return redirect("/login")
    return {"sub": session["user"]["sub"], "name": session["user"].get("name")}  # sub: the person's key


@app.route("/login")
def login():
    return oauth.sso_banten.authorize_redirect({{ redirect_uri | q }})


@app.route({{ redirect_path | q }})
def callback():
    token = oauth.sso_banten.authorize_access_token()  # checks state, nonce and the ID token
    session["user"] = token["userinfo"]
    return redirect("/")


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "5001")))
