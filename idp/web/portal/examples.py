"""The integration examples of the application's page, rendered for one application: one source of truth.

Each example is a complete program (or configuration) in ``templates/portal/examples/``, rendered here
as plain text with the application's values quoted for its language; the page shows the text (escaped
as HTML), and ``tests/oauth/test_integration_guides.py`` renders the same templates with this function
and runs them against a live provider (Python with Authlib, Node.js with openid-client, Apache httpd
with mod_auth_openidc, PHP with jumbojett/openid-connect-php, and plain PHP without a library).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import lazy_gettext as _l
from jinja2 import StrictUndefined

# name -> (template, heading on the page)
EXAMPLES: dict[str, tuple[str, Any]] = {
    "python": ("portal/examples/python_authlib.py", "Python (Authlib, Flask)"),
    "node": ("portal/examples/node_openid_client.mjs", "Node.js (openid-client 6)"),
    "apache": ("portal/examples/apache_mod_auth_openidc.conf", "Apache (mod_auth_openidc)"),
    "php": ("portal/examples/php_openid_connect.php", "PHP (jumbojett/openid-connect-php)"),
    # PHP's own curl and openssl functions only: for servers where composer cannot reach Packagist.
    "php_plain": ("portal/examples/php_plain.php", _l("PHP (no library)")),
}
PLACEHOLDER_REDIRECT = "https://your.app/callback"


def _quoted(value: Any) -> str:
    """A Python or JavaScript string literal (JSON's syntax is valid in both)."""
    return json.dumps(str(value), ensure_ascii=False)


def _php(value: Any) -> str:
    """A PHP single-quoted string literal (no interpolation), or an array of them."""
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_php(v) for v in value) + "]"
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _conf(value: Any) -> str:
    """An Apache directive argument: as it is when it is one plain word, else double-quoted."""
    text = str(value)
    if text and not any(c in text for c in ' \t"\\#'):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(name: str, *, issuer: str, client_id: str, redirect_uri: str | None, scope: str,
           auth_method: str, post_logout_redirect_uri: str | None = None) -> str:
    """The example ``name`` for these values, as plain text (the caller escapes it for HTML).

    Without a registered ``post_logout_redirect_uri``, the examples that sign out return to the root of
    the redirect URI's site (to be registered; RP-Initiated Logout 1.0 section 3).
    """
    env = current_app.jinja_env.overlay(autoescape=False, undefined=StrictUndefined)
    env.filters.update(q=_quoted, php=_php, conf=_conf)
    redirect_uri = redirect_uri or PLACEHOLDER_REDIRECT
    parts = urlsplit(redirect_uri)
    issuer = issuer.rstrip("/")
    return env.get_template(EXAMPLES[name][0]).render(
        issuer=issuer, discovery=issuer + "/.well-known/openid-configuration", client_id=client_id,
        redirect_uri=redirect_uri, redirect_path=parts.path or "/", scope=scope,
        scope_list=scope.split(), auth_method=auth_method,
        post_logout_redirect_uri=post_logout_redirect_uri or f"{parts.scheme}://{parts.netloc}/")


def render_all(**values: Any) -> list[tuple[str, str, str]]:
    """(name, heading, text) of every example."""
    return [(name, heading, render(name, **values)) for name, (_template, heading) in EXAMPLES.items()]
