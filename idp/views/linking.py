"""Linking pages: prove the other credential to join it to the signed-in person (see :mod:`idp.linking`).

``/account/link/<kind>`` asks for the other credential (citizen NIK/e-mail and password, or the staff
directory user name and password), checks it under the same brute-force limits as the sign-in page,
and links or merges.  ``/account/unlink/<id>`` detaches a credential; it needs a sign-in within the
last five minutes.  Every form is POST with a CSRF token.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField

from .. import assurance, identity, linking, signout
from .. import session as login_session
from ..extensions import db
from ..models import Person
from .account import signed_in_view
from .auth import Refusal, _page, _resume_url, clean_req, login_kinds, pending_request, prove

bp = Blueprint("linking", __name__)

FRESH_SIGN_IN_SECONDS = 300
LABELS: dict[str, Any] = {
    "citizen": _l("NIK or e-mail address of your citizen account"),
    "ldap": _l("Staff user name (directory)"),
}
REFUSED: dict[str, Any] = {
    "already": _l("These accounts are already linked."),
    "source_taken": _l("Your identity already has an account of this kind. Unlink it first."),
    "inactive": _l("That account is disabled and cannot be linked. Please contact the help desk."),
    "last": _l("This is the only account you can sign in with; it cannot be removed."),
    "unknown": _l("That link does not exist."),
}


class LinkForm(FlaskForm):
    identifier = StringField(_l("User name"))
    password = PasswordField(_l("Password"))
    req = HiddenField()
    offer = HiddenField()


class ConfirmForm(FlaskForm):
    pass


def _after(req: str | None) -> Response:
    if req and pending_request(req) is not None:
        return redirect(_resume_url(req), 303)  # type: ignore[return-value]
    return redirect("/account/linked", 303)  # type: ignore[return-value]


@bp.route("/account/link/<kind>", methods=["GET", "POST"])
def link(kind: str) -> Response:
    """Prove the other credential and link it (or merge the two identities)."""
    offered = [value for value, _, _ in login_kinds()]
    if kind not in offered:
        abort(404)
    found = identity.signed_in()
    req = clean_req(request.values.get("req"))
    if found is None:
        return redirect(url_for("auth.login"), 303)  # type: ignore[return-value]
    current, person = found
    form = LinkForm()
    form.identifier.label.text = LABELS[kind]
    offer = request.values.get("offer") == "1"
    page: dict[str, Any] = {"kind": kind, "req": req, "offer": offer}
    if request.method == "GET":
        form.req.data, form.offer.data = req or "", "1" if offer else ""
        return _page("linking/link.html", form=form, **page)
    if not form.validate():
        return _page("linking/link.html", 400, form=form, error=_l("The form has expired. Please try again."), **page)
    try:
        proved = prove(kind, (form.identifier.data or "").strip(), form.password.data or "", req=req)
    except Refusal as refusal:
        form.password.data = ""
        return _page("linking/link.html", refusal.status, form=form, **page, **refusal.page)
    try:
        result = linking.link(person, proved)
    except linking.LinkRefused as exc:
        db.session.rollback()
        form.password.data = ""
        return _page("linking/link.html", 409, form=form, error=REFUSED[exc.reason], **page)
    survivor = result.survivor
    # Both credentials were proved in this browser: the session now stands for both (the higher level).
    acr = max(current.acr, proved.acr, key=assurance.level)
    amr = sorted(set(current.amr) | set(proved.amr))
    if result.retired is not None:
        ended = login_session.end_all(result.retired.id)  # includes this browser when it was the retired one
        signout.sessions_ended(ended, reason="merged", keep_offline=False)
    if current.person_id != survivor.id:  # this browser's identity was the retired one
        login_session.begin(person_id=survivor.id, sub=survivor.sub, acr=acr, amr=amr, source=current.source)
    else:
        current.acr, current.amr = acr, amr
        login_session.save(current)
    db.session.commit()
    flash(_l("The accounts are linked: applications now see one identity."), "success")
    return _after(req)


@bp.get("/account/link/skip")
def skip() -> Response:
    """Continue without linking (after the offer shown at a staff sign-in); not offered again this visit."""
    session["link_offer_declined"] = True
    return _after(clean_req(request.args.get("req")))


@bp.post("/account/unlink/<int:link_id>")
@signed_in_view
def unlink(link_id: int, *, current: login_session.LoginSession, person: Person) -> Response:
    """Detach one credential into an identity of its own; needs a fresh sign-in."""
    if not ConfirmForm().validate():
        return _page("linking/unlinked.html", 400, error=_l("The form has expired. Please try again."))
    if time.time() - current.auth_time > FRESH_SIGN_IN_SECONDS:
        return _page("linking/unlinked.html", 403, reauth=True,
                     error=_l("For your safety, sign in again before removing an account (then try again "
                              "within five minutes)."))
    from ..models import IdentityLink

    if link_id > 2**31 - 1:  # beyond the integer column: unknown, not a database error
        return _page("linking/unlinked.html", 409, error=REFUSED["unknown"])
    row = db.session.get(IdentityLink, link_id)
    source = row.source if row is not None and row.person_id == person.id else None
    try:
        linking.unlink(person, link_id)
    except linking.LinkRefused as exc:
        db.session.rollback()
        return _page("linking/unlinked.html", 409, error=REFUSED[exc.reason])
    # Sessions that were opened with the detached credential no longer prove this person.
    ended = [login_session.end_sid(s.sid) for s in login_session.sessions_of(person.id) if s.source == source]
    signout.sessions_ended(ended, reason="unlinked")
    db.session.commit()
    if any(s is not None and s.sid == current.sid for s in ended):
        login_session.end()  # clears the cookie too
        flash(_l("The account is unlinked. You signed in with it, so you are signed out now."), "info")
        return redirect(url_for("auth.login"), 303)  # type: ignore[return-value]
    flash(_l("The account is unlinked; it is now a separate identity."), "success")
    return redirect("/account/linked", 303)  # type: ignore[return-value]
