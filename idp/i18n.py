"""Language choice: the switch (``?lang=``), the application's ``ui_locales``, the person's earlier choice
(the ``idp_lang`` cookie), then the default (Indonesian, ``IDP_DEFAULT_LOCALE``).

The browser's ``Accept-Language`` does not decide: a phone set to English still gets Indonesian first,
with the switch to English on every page (``templates/base.html``).  Only a choice counts: the
person's (the switch, remembered in the cookie) or the application's (OpenID Connect Core 3.1.2.1
``ui_locales``: the application knows its user's language and chose it).

The product has one name per language (:data:`PRODUCT_NAMES`, issue 16): pages, mails and messages say
it through ``product`` (a template global) or ``product=product_name()``, never by writing it out.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, g, request
from flask_babel import LazyString, get_locale

from idp import assurance
from idp.extensions import babel, state

SUPPORTED = ("id", "en")
LANG_COOKIE = "idp_lang"
AUTHORIZE_ENDPOINT = "oauth.authorize"  # the Flask endpoint of /authorize (idp.web.oauth)

# The product's name in each language.  A label that has one language only (the mail sender, the entry
# in the authenticator app, the page of last resort) uses the default language's: PRODUCT_NAME.
PRODUCT_NAMES = {"id": "SSO Banten", "en": "Banten SSO"}
PRODUCT_NAME = PRODUCT_NAMES["id"]


def product_name() -> str:
    """The product's name in the current language (outside a request: :data:`PRODUCT_NAME`)."""
    return PRODUCT_NAMES.get(str(get_locale()), PRODUCT_NAME)


# The name as a lazy string: evaluated when shown, in the language of that moment (a mail's, a page's).
PRODUCT: Any = LazyString(product_name)


def select_locale() -> str:
    """The page's language: this request's choice (``?lang=``, ``ui_locales``, or the ``ui_locales`` of
    the pending authorization request, :func:`idp.web.common.pending_request`), else the cookie, else
    the default; never ``Accept-Language``."""
    chosen = g.get("ui_locale")
    if chosen:
        return str(chosen)
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie in SUPPORTED:
        return str(cookie)
    return str(state().config["DEFAULT_LOCALE"])


def pick_ui_locales(value: str | None) -> str | None:
    """First supported tag of an OpenID Connect ``ui_locales`` value (``en-US id`` -> ``en``)."""
    for tag in (value or "").split():
        base = tag.split("-")[0].lower()
        if base in SUPPORTED:
            return base
    return None


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)
    # Every template may say the product's name and an assurance level in words (templates/_acr.html).
    app.jinja_env.globals.update(product=PRODUCT, assurance_words=assurance.WORDS,
                                 product_label=PRODUCT_NAME)  # the name as a one-language label says it

    @app.before_request
    def _explicit_choice() -> None:
        # ?lang= is the language switch; ui_locales comes from the application (OIDC Core 3.1.2.1).
        # Without a query string there is nothing to parse (the API calls: token, introspection, ...).
        value = None
        if request.query_string:
            lang = request.args.get("lang")
            if lang in SUPPORTED:
                g.ui_locale = lang
                g.remember_lang = lang
                return
            value = request.args.get("ui_locales")
        # ui_locales is a query parameter, or a field of an authorization request sent by POST (OIDC Core
        # 3.1.2.1).  No other POST carries it: their bodies are not parsed here (the token endpoint's
        # form is read once, by Authlib).
        if value is None and request.method == "POST" and request.endpoint == AUTHORIZE_ENDPOINT:
            value = request.form.get("ui_locales")
        picked = pick_ui_locales(value)
        if picked:
            g.ui_locale = picked
            g.remember_lang = picked

    @app.after_request
    def _remember(resp: Response) -> Response:
        lang = g.get("remember_lang")
        if lang:
            resp.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="Lax", httponly=True,
                            secure=request.is_secure)
        return resp

    @app.context_processor
    def _ctx() -> dict[str, object]:
        return {"current_locale": str(get_locale())}
