"""Language choice: ``ui_locales``, the switch, the browser's language, then the default (Indonesian)."""

from __future__ import annotations

from flask import Flask, Response, g, request
from flask_babel import get_locale

from idp.extensions import babel, state

SUPPORTED = ("id", "en")
LANG_COOKIE = "idp_lang"


def select_locale() -> str:
    chosen = g.get("ui_locale")
    if chosen:
        return str(chosen)

    default = state().config["DEFAULT_LOCALE"]
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie in SUPPORTED:
        return str(cookie)
    return request.accept_languages.best_match(SUPPORTED, default=default) or default


def pick_ui_locales(value: str | None) -> str | None:
    """First supported tag of an OpenID Connect ``ui_locales`` value (``en-US id`` -> ``en``)."""
    for tag in (value or "").split():
        base = tag.split("-")[0].lower()
        if base in SUPPORTED:
            return base
    return None


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)

    @app.before_request
    def _explicit_choice() -> None:
        # ?lang= is the language switch; ui_locales comes from the application (OIDC Core 3.1.2.1).
        lang = request.args.get("lang")
        if lang in SUPPORTED:
            g.ui_locale = lang
            g.remember_lang = lang
            return
        picked = pick_ui_locales(request.values.get("ui_locales"))
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
