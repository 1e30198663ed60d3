"""What every page uses: the page helper, the one access decorator, and the hand-offs between pages.

A page (see :mod:`idp.web`) parses its form, calls one domain function and renders with :func:`page`;
who may see it is said by :func:`requires` with one or more checks (:data:`signed_in`, :data:`staff`,
:data:`admin`, :data:`mfa`, :data:`known_ids`).  ``req`` names a pending authorization request
(:mod:`idp.oauth.authorize`) that travels along sign-in, registration and verification, so that the
person ends up back at the application; ``next`` is a page of this provider to return to after sign-in.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Response, abort, g, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_babel import refresh
from werkzeug.routing import BuildError

from idp import assurance, sources
from idp.i18n import pick_ui_locales
from idp.models import Person
from idp.oauth import authorize
from idp.people import identity, roles
from idp.people.session import LoginSession

REQ_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
MAX_ID = 2**31 - 1  # integer columns: a larger number from a URL is "not found", never a database error
EXPIRED = _l("The form has expired. Please try again.")
# What the account and console pages call each kind of credential.
SOURCE_TEXT: dict[str, Any] = sources.account_labels()  # "which credential": idp.sources.registry


def page(template: str, http_status: int = 200, **context: Any) -> Response:
    """An HTML page rendered from ``template`` with the given HTTP status."""
    return Response(render_template(template, **context), status=http_status, mimetype="text/html")


def see_other(endpoint: str, **values: Any) -> Response:
    """POST/redirect/GET: a 303 to ``endpoint``."""
    return redirect(url_for(endpoint, **values), 303)  # type: ignore[return-value]


# --- the pending authorization request and the way back ------------------------------------------
def clean_req(value: Any) -> str | None:
    """A syntactically possible request id, or None (never trusted beyond that)."""
    return value if isinstance(value, str) and REQ_RE.match(value) else None


def pending_request(req: str | None) -> dict[str, Any] | None:
    """The stored authorization request ``req`` names, and use its ``ui_locales`` for the page."""
    value = authorize.pending(req)
    if value is None:
        return None
    picked = pick_ui_locales(value.get("ui_locales"))
    if picked and not g.get("ui_locale"):
        g.ui_locale = picked
        refresh()  # the locale may be cached already (a form built before this call reads its translations)
    return value


def resume_url(req: str) -> str:
    """Where the authorization request ``req`` continues once the person has signed in."""
    try:
        return url_for("oauth.authorize_resume", req=req)
    except BuildError:  # the protocol blueprint is not installed
        return "/authorize/resume?req=" + req


def safe_next(value: Any) -> str | None:
    """A path on this provider to return to after sign-in, or None: never another site (open redirect,
    RFC 9700 4.11): one leading slash, no scheme-relative double slash or backslash, printable, bounded."""
    if not isinstance(value, str) or not value.startswith("/") or len(value) > 512:
        return None
    if value.startswith(("//", "/\\")) or "\\" in value or not value.isprintable() or not value.isascii():
        return None
    return value


# --- access ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    """One condition a page sets on the signed-in person: ``refuse`` answers the page to show instead
    (None: the person may pass).  ``console`` pages send strangers to the sign-in page with ``next`` (to
    come back here) and are never cached."""

    refuse: Callable[[LoginSession, Person], Response | None]
    console: bool = False


def _known_ids(current: LoginSession, person: Person) -> Response | None:
    for value in (request.view_args or {}).values():
        if isinstance(value, int) and not 0 < value <= MAX_ID:
            abort(404)  # beyond the database's integers: no such thing
    return None


signed_in = Check(lambda current, person: None)
# The developer portal (issue 6): active staff, and vendors an operator granted portal access (issue 18);
# anybody else signed in gets 403.
staff = Check(lambda current, person: None if roles.may_use_portal(person.id) else page("portal/forbidden.html", 403),
              console=True)
# The administration console: administrators (directory groups mapped to ``admin``, or granted) only.
admin = Check(lambda current, person: None if roles.is_admin(person.id) else page("admin/forbidden.html", 403),
              console=True)
# ... whose session used a second factor; the page explains how to add one.
mfa = Check(lambda current, person: None if current.acr == assurance.MFA
            else page("admin/second_factor.html", 403, person=person), console=True)
# Integer ids in the URL beyond the database's integers answer 404 (no such thing).
known_ids = Check(_known_ids, console=True)


def requires(*checks: Check) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Let through a signed-in, active person who passes every check in order; the view gets this
    browser's session and the person as keyword arguments ``current`` and ``person``.

    Nobody signed in goes to the sign-in page (with ``next`` for console pages, see :func:`safe_next`);
    the first failing check answers instead of the view.
    """
    console = any(check.console for check in checks)

    def decorate(view: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Response:
            found = identity.signed_in()
            if found is None:
                # ``next``: the sign-in page returns here afterwards.
                return see_other("auth.login", **({"next": request.path} if console else {}))
            current, person = found
            for check in checks:
                refused = check.refuse(current, person)
                if refused is not None:
                    return refused
            resp = view(*args, current=current, person=person, **kwargs)
            if console:
                resp.headers["Cache-Control"] = "no-store"
            return resp

        return wrapper

    return decorate
