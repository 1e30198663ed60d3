"""Linking pages: prove the other credential to join it to the signed-in person (see :mod:`idp.people.linking`).

``/account/link/<kind>`` asks for the other credential (citizen NIK/e-mail and password, or the staff
directory user name and password), checks it under the same brute-force limits as the sign-in page,
then asks for that account's second factor when it has one (``/account/link/<kind>/two-step``: the proof
of the password waits in the store for five minutes, bound to this session), and links or merges.
``/account/unlink/<id>`` detaches a credential; it needs a sign-in within the last five minutes.  Every
form is POST with a CSRF token.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, abort, flash, jsonify, redirect, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField

from idp import assurance, audit, ratelimit, sources
from idp.crypto import random_token
from idp.extensions import db, state
from idp.models import IdentityLink, Person
from idp.people import identity, linking, mfa, passkeys, signin, signout
from idp.people import session as login_session
from idp.sources.base import Identity
from idp.web.auth.signin import refusal_context
from idp.web.common import EXPIRED, clean_req, page, pending_request, requires, resume_url, signed_in
from idp.web.forms import required

bp = Blueprint("linking", __name__)

FRESH_SIGN_IN_SECONDS = 300
# What the page asks for, per kind (idp.sources.registry).
LABELS: dict[str, Any] = {source.name: source.identifier_label for source in sources.SOURCES}
REFUSED: dict[str, Any] = {
    "already": _l("These accounts are already linked."),
    "source_taken": _l("Your identity already has an account of this kind. Unlink it first."),
    "inactive": _l("That account is disabled and cannot be linked. Please contact the help desk."),
    "last": _l("This is the only account you can sign in with; it cannot be removed."),
    "unknown": _l("That link does not exist."),
    "second_factor_unavailable": _l("That account must use two-step verification, and it has not been set "
                                    "up yet. Sign in with that account directly first (you will be asked to "
                                    "set it up), then link the accounts."),
}
PENDING_TTL = 300
PENDING_KEY = "link_pending"
WRONG_CODE = _l("That code is not right. Type the 6-digit code of the other account's authenticator app, "
                "or one of its recovery codes.")


class LinkForm(FlaskForm):
    identifier = StringField(_l("User name"), validators=[required])
    password = PasswordField(_l("Password"), validators=[required])
    req = HiddenField()
    offer = HiddenField()


class ConfirmForm(FlaskForm):
    pass


class LinkCodeForm(FlaskForm):
    code = StringField(_l("Code"), description=_l("6 digits from the authenticator app of the account you are "
                                                  "linking, or one of its recovery codes."))
    # The linked account's passkey may stand in for the code (static/js/passkeys.js fills these in).
    ceremony = HiddenField()
    credential = HiddenField()

    def validate_code(self, field: StringField) -> None:
        if not self.credential.data:  # an empty code is "Required.", not a wrong code (nothing counted)
            required(self, field)


def _after(req: str | None) -> Response:
    if req and pending_request(req) is not None:
        return redirect(resume_url(req), 303)  # type: ignore[return-value]
    return redirect("/account/linked", 303)  # type: ignore[return-value]


@bp.route("/account/link/<kind>", methods=["GET", "POST"])
def link(kind: str) -> Response:
    """Prove the other credential and link it (or merge the two identities)."""
    offered = [value for value, _, _ in signin.login_kinds()]
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
    ctx: dict[str, Any] = {"kind": kind, "req": req, "offer": offer}
    if request.method == "GET":
        form.req.data, form.offer.data = req or "", "1" if offer else ""
        return page("linking/link.html", form=form, **ctx)
    if not form.validate():
        # An expired form, or an empty field ("Required." at the field: nothing proved, nothing counted).
        return page("linking/link.html", 400, form=form, error=EXPIRED if form.csrf_token.errors else None, **ctx)
    try:
        proved = signin.prove(kind, (form.identifier.data or "").strip(), form.password.data or "")
    except signin.Refusal as refusal:
        form.password.data = ""
        audit.record("link.refused", outcome="failure", person_id=person.id, source=kind, reason="credentials",
                     commit=True)
        return page("linking/link.html", refusal.status, form=form, **ctx, **refusal_context(refusal, req))
    owner = linking.owner_of(proved)
    needed = linking.proof_needed(proved, owner)
    if needed == linking.UNAVAILABLE:
        db.session.rollback()
        form.password.data = ""
        audit.record("link.refused", outcome="failure", person_id=person.id, source=kind,
                     reason="second_factor_unavailable", other=owner.id if owner else None, commit=True)
        return page("linking/link.html", 403, form=form, error=REFUSED["second_factor_unavailable"], **ctx)
    if needed == linking.CODE:
        assert owner is not None
        # The password is proved; the link waits for the other account's second factor (a full sign-in).
        token = random_token(24)
        state().store.put("link-pending", token, {
            "sid": current.sid, "person_id": person.id, "owner_id": owner.id, "source": proved.source,
            "subject": proved.subject, "acr": proved.acr, "amr": list(proved.amr), "req": req, "offer": offer,
        }, PENDING_TTL)
        session[PENDING_KEY] = token
        db.session.commit()
        return redirect(url_for("linking.link_code", kind=kind), 303)  # type: ignore[return-value]
    return _finish(current, person, proved, ctx)


def _finish(current: login_session.LoginSession, person: Person, proved: Identity, ctx: dict[str, Any]) -> Response:
    try:
        linking.complete(current, person, proved)
    except linking.LinkRefused as exc:
        return page("linking/link.html", 409, form=LinkForm(formdata=None, req=ctx.get("req") or "",
                                                             offer="1" if ctx.get("offer") else ""),
                     error=REFUSED[exc.reason], refused=exc.reason == "inactive", **ctx)  # help desk shown
    flash(_l("The accounts are linked: applications now see one identity."), "success")
    return _after(ctx.get("req"))


def _parked(current: login_session.LoginSession, kind: str) -> tuple[str, dict[str, Any]] | None:
    """The password proof waiting for its second factor, if it belongs to this very session and kind."""
    token = session.get(PENDING_KEY)
    if not isinstance(token, str) or len(token) > 64:
        return None
    value = state().store.get("link-pending", token)
    if not isinstance(value, dict) or value.get("sid") != current.sid or value.get("source") != kind:
        return None
    return token, value


@bp.route("/account/link/<kind>/two-step", methods=["GET", "POST"])
def link_code(kind: str) -> Response:
    """The second factor of the account being linked: its current code or one of its recovery codes."""
    found = identity.signed_in()
    if found is None:
        return redirect(url_for("auth.login"), 303)  # type: ignore[return-value]
    current, person = found
    parked = _parked(current, kind)
    if parked is None:
        flash(_l("Linking took too long. Please prove the other account again."), "info")
        return redirect(url_for("linking.link", kind=kind), 303)  # type: ignore[return-value]
    token, value = parked
    owner_id = int(value["owner_id"])
    ctx: dict[str, Any] = {"kind": kind, "req": value.get("req"), "offer": bool(value.get("offer")),
                           "passkey": passkeys.enabled() and passkeys.has_passkey(owner_id)}
    form = LinkCodeForm()
    if request.method == "GET":
        return page("linking/link_code.html", form=form, **ctx)
    if not form.validate():
        return page("linking/link_code.html", 400, form=form, error=EXPIRED if form.csrf_token.errors else None,
                     **ctx)
    # The same counter as the sign-in page's code step: guesses here and there add up.
    key = ratelimit.identifier_key(f"mfa:{owner_id}")
    locked = ratelimit.locked_for(key, request.remote_addr)
    used = None
    if locked:
        method = None
    elif form.credential.data:
        # The passkey of the account being linked, answering a ceremony of this very parked proof.
        try:
            used = passkeys.authenticate("link:" + token, form.ceremony.data, form.credential.data, owner_id)
        except passkeys.PasskeyError:
            used = None
        method = "passkey" if used is not None else None
    else:
        method = mfa.verify(owner_id, form.code.data)
    if method is None:
        started = locked or ratelimit.record_failure(key, request.remote_addr)
        audit.record("link.refused", outcome="failure", person_id=person.id, source=kind, reason="second_factor",
                     other=owner_id, commit=True)
        if started:
            state().store.delete("link-pending", token)  # start again from the password
            session.pop(PENDING_KEY, None)
            return page("linking/link_code.html", 429, form=form, locked_minutes=ratelimit.minutes(started), **ctx)
        form.code.errors = [WRONG_CODE]
        return page("linking/link_code.html", 401, form=form, **ctx)
    ratelimit.record_success(key)
    if state().store.take("link-pending", token) is None:  # used by a parallel request meanwhile
        return redirect(url_for("linking.link", kind=kind), 303)  # type: ignore[return-value]
    session.pop(PENDING_KEY, None)
    amr = (passkeys.with_passkey(list(value.get("amr", [])), used) if used is not None
           else list(dict.fromkeys([*value.get("amr", []), assurance.AMR_OTP, assurance.AMR_MFA])))
    proved = Identity(source=kind, subject=str(value["subject"]), acr=assurance.MFA, amr=amr)
    owner = linking.owner_of(proved)
    if owner is None or owner.id != owner_id:  # the account changed hands meanwhile (unlinked, merged)
        flash(_l("Linking took too long. Please prove the other account again."), "info")
        return redirect(url_for("linking.link", kind=kind), 303)  # type: ignore[return-value]
    return _finish(current, person, proved, ctx)


@bp.post("/account/link/<kind>/two-step/passkey-options")
def link_passkey_options(kind: str) -> Response:
    """Start the ceremony of the linked account's passkey, bound to this session's parked proof (JSON)."""
    found = identity.signed_in()
    parked = _parked(found[0], kind) if found is not None else None
    if parked is None:
        return Response('{"error": "expired"}', status=400, mimetype="application/json")
    try:
        ceremony, options = passkeys.authentication_options("link:" + parked[0], int(parked[1]["owner_id"]))
    except passkeys.PasskeyError:
        return Response('{"error": "off"}', status=400, mimetype="application/json")
    resp = jsonify(ceremony=ceremony, options=options)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/account/link/skip")
def skip() -> Response:
    """Continue without linking (after the offer shown at a staff sign-in); not offered again this visit."""
    session["link_offer_declined"] = True
    return _after(clean_req(request.args.get("req")))


@bp.post("/account/unlink/<int:link_id>")
@requires(signed_in)
def unlink(link_id: int, *, current: login_session.LoginSession, person: Person) -> Response:
    """Detach one credential into an identity of its own; needs a fresh sign-in."""
    if not ConfirmForm().validate():
        return page("linking/unlinked.html", 400, error=_l("The form has expired. Please try again."))
    if time.time() - current.auth_time > FRESH_SIGN_IN_SECONDS:
        return page("linking/unlinked.html", 403, reauth=True,
                     error=_l("For your safety, sign in again before removing an account (then try again "
                              "within five minutes)."))
    if link_id > 2**31 - 1:  # beyond the integer column: unknown, not a database error
        return page("linking/unlinked.html", 409, error=REFUSED["unknown"])
    row = db.session.get(IdentityLink, link_id)
    source = row.source if row is not None and row.person_id == person.id else None
    try:
        linking.unlink(person, link_id)
    except linking.LinkRefused as exc:
        db.session.rollback()
        return page("linking/unlinked.html", 409, error=REFUSED[exc.reason])
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
