"""The account pages at ``/account``: what the provider holds about the signed-in person, and control over it.

These pages carry out the data subject rights of UU PDP (Law 27/2022): information and access
(profile, linked accounts, sessions, applications), correction (the citizen's name, and e-mail address
with re-verification: :mod:`idp.people.email_change`), withdrawal of consent (revoke an application),
portability (download my data) and deletion (delete my account).
Every page needs a signed-in session; every change is a POST with a CSRF token.  Linking and
unlinking live in :mod:`idp.web.linking`; these pages only link to them.  What changes or reads more
than one table is :mod:`idp.consoles.account`.
"""

from __future__ import annotations

import json
import time
from typing import Any

from flask import Blueprint, Response, flash, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import ValidationError

from idp import assurance, audit, mail, passwords
from idp.consoles import account as rights
from idp.consoles.account import citizen_account, client_names, staff_account, when
from idp.extensions import db
from idp.models import CitizenAccount, IdentityLink, Person
from idp.oauth import frontchannel
from idp.people import email_change, nik_proof, signin, signout
from idp.people import session as login_session
from idp.people.claims import SCOPE_TEXT
from idp.sources import citizen
from idp.sources.population_registry import configured as registry_configured
from idp.web.common import EXPIRED, SOURCE_TEXT, page, requires, signed_in
from idp.web.forms import ActionForm, email_rule, full_name_rule, required

bp = Blueprint("account", __name__, url_prefix="/account")

# Deleting the account needs a sign-in this recent (the same rule as unlinking, idp.web.linking).
FRESH_SIGN_IN_SECONDS = 300


# --- forms ---------------------------------------------------------------------------------------
class ProfileForm(FlaskForm):
    full_name = StringField(_l("Full name"), description=_l("As written on your KTP."))

    # The same rule as registration (one place decides what a name may be: idp.web.forms).
    validate_full_name = full_name_rule


class EmailForm(FlaskForm):
    email = StringField(_l("New e-mail address"),
                        description=_l("We send a link to the new address. Your current address stays in use "
                                       "until you open it."))

    normalized_email: str = ""
    # The same rule as registration (one place decides what an address may be).
    validate_email = email_rule


class ConfirmEmailForm(FlaskForm):
    token = HiddenField()


class PasswordForm(FlaskForm):
    # An empty current password is "Required." at the field, never a wrong guess (idp.people.signin.missing).
    current_password = PasswordField(_l("Current password"), validators=[required])
    password = PasswordField(_l("New password"), validators=[required])
    password_confirm = PasswordField(_l("Repeat the new password"))

    def validate_password_confirm(self, field: PasswordField) -> None:
        if not field.data:
            raise ValidationError(_l("Repeat the password."))
        if field.data != self.password.data:
            raise ValidationError(_l("The two passwords are not the same."))


# --- helpers -------------------------------------------------------------------------------------
def citizen_method(account: CitizenAccount | None) -> str | None:
    """How the account's NIK is proven: ``self-declared``, ``registry`` or ``in-person`` (None: no NIK)."""
    if account is None:
        return None
    if account.nik_hash is None:
        return "self-declared"  # only claimed
    return assurance.NIK_METHODS.get(account.assurance, "self-declared")


def _nav(active: str, **context: Any) -> dict[str, Any]:
    return {"active": active, **context}


# --- profile -------------------------------------------------------------------------------------
DIRECTORY_EMAIL = _l("Your e-mail address comes from your agency's directory; it is changed there (ask your "
                     "agency's directory administrator), and shows here after your next sign-in.")


def _profile_page(person: Person, account: CitizenAccount | None, status: int = 200, *,
                  form: ProfileForm | None = None, email_form: EmailForm | None = None) -> Response:
    if account is not None:
        form = form or ProfileForm(formdata=None, data={"full_name": account.full_name})
        email_form = email_form or EmailForm(formdata=None)
    return page("account/profile.html", status, form=form, email_form=email_form,
                 directory_email=DIRECTORY_EMAIL, nik_proven=(assurance.CITIZEN_REGISTRY, assurance.CITIZEN_IN_PERSON),
                 **_nav("profile", person=person, account=account, staff=staff_account(person.id)))


@bp.route("", methods=["GET", "POST"])
@requires(signed_in)
def profile(*, current: login_session.LoginSession, person: Person) -> Response:
    """Name, e-mail, masked NIK (citizens) or directory data (staff, read only); citizens correct their name."""
    account = citizen_account(person.id)
    if account is None:  # staff data come from the directory: read only here
        return _profile_page(person, None, 403 if request.method == "POST" else 200)
    if request.method != "POST":
        return _profile_page(person, account)
    form = ProfileForm()
    if not form.validate():
        return _profile_page(person, account, 400, form=form)
    name = form.full_name.data or ""
    if name != account.full_name:
        account.full_name = name
        person.name = name  # the claims read the person; a citizen sign-in copies it from the account
        audit.record("profile.updated", person_id=person.id, fields=["name"])
        db.session.commit()
    flash(_l("Your name is saved."), "success")
    return redirect(url_for("account.profile"), 303)  # type: ignore[return-value]


@bp.post("/email")
@requires(signed_in)
def change_email(*, current: login_session.LoginSession, person: Person) -> Response:
    """Ask to use a new e-mail address (citizens): a link goes to it, a notice to the current one.

    The answer is the same whether or not another account uses the address (see idp.people.email_change).
    """
    account = citizen_account(person.id)
    if account is None:
        return _profile_page(person, None, 403)
    form = EmailForm()
    if not form.validate():
        return _profile_page(person, account, 400, email_form=form)
    if form.normalized_email == account.email:
        form.email.errors = [str(_l("That is already your e-mail address."))]
        return _profile_page(person, account, 400, email_form=form)
    try:
        email_change.request_change(account, form.normalized_email)
    except email_change.TooMany:
        form.email.errors = [str(_l("You asked for several changes in a short time. Please wait an hour, or "
                                    "open the link we already sent."))]
        return _profile_page(person, account, 429, email_form=form)
    except mail.MailError:
        db.session.rollback()
        form.email.errors = [str(_l("We could not send the e-mail right now. Nothing was changed; please try "
                                    "again in a few minutes."))]
        return _profile_page(person, account, 503, email_form=form)
    flash(_l("We sent a confirmation link to the new address. Your current address stays in use until you "
             "open it."), "info")
    return redirect(url_for("account.profile"), 303)  # type: ignore[return-value]


@bp.route("/email/confirm", methods=["GET", "POST"])
def confirm_email() -> Response:
    """The link mailed to the new address: GET shows a button, POST uses the link (mail scanners that
    follow links cannot use it up).  Works without a session: the link itself is the proof."""
    form = ConfirmEmailForm()
    invalid = _l("This link has already been used, has expired, or was replaced by a newer one. Your e-mail "
                 "address was not changed.")
    if request.method == "GET":
        token = request.args.get("token", "")
        if email_change.peek(token) is None:
            return page("account/message.html", 400, error=invalid)
        form.token.data = token
        return page("account/email_confirm.html", form=form)
    if not form.validate():
        return page("account/message.html", 400, error=invalid)
    if email_change.confirm(form.token.data or "") is None:
        return page("account/message.html", 400, error=invalid)
    flash(_l("Your new e-mail address is confirmed and in use now."), "success")
    return redirect(url_for("account.profile"), 303)  # type: ignore[return-value]


# --- linked accounts -------------------------------------------------------------------------------
@bp.get("/linked")
@requires(signed_in)
def linked(*, current: login_session.LoginSession, person: Person) -> Response:
    """The person's credentials with link/unlink (the routes are in idp.web.linking)."""
    links = db.session.execute(select(IdentityLink).where(IdentityLink.person_id == person.id)
                               .order_by(IdentityLink.created_at, IdentityLink.id)).scalars().all()
    have = {link.source for link in links}
    missing = [kind for kind, _, _ in signin.login_kinds() if kind not in have]
    return page("account/linked.html", **_nav("linked", links=links, missing=missing, sources=SOURCE_TEXT,
                                               form=ActionForm()))


# --- sessions ------------------------------------------------------------------------------------------
@bp.get("/sessions")
@requires(signed_in)
def sessions(*, current: login_session.LoginSession, person: Person) -> Response:
    """Every live session of the person, this one marked."""
    rows = login_session.sessions_of(person.id)
    names = client_names(sorted({c for s in rows for c in s.clients}))
    shown = [{"sid": s.sid, "created": when(s.created), "auth_time": when(s.auth_time), "acr": s.acr,
              "source": SOURCE_TEXT.get(s.source, s.source), "this": s.sid == current.sid,
              "device": s.device, "ip": s.ip, "clients": [names.get(c, c) for c in s.clients]} for s in rows]
    return page("account/sessions.html", **_nav("sessions", sessions=shown, form=ActionForm()))


@bp.post("/sessions/end/<sid>")
@requires(signed_in)
def end_session(sid: str, *, current: login_session.LoginSession, person: Person) -> Response:
    """Sign out one session of this person (another device, or this one)."""
    if not ActionForm().validate():
        return page("account/message.html", 400, error=EXPIRED)
    mine = {s.sid for s in login_session.sessions_of(person.id)}
    if sid not in mine:  # another person's sid (or none): never end it, say nothing about it
        return page("account/message.html", 404, error=_l("That session has already ended."))
    ended = login_session.end_sid(sid)
    signout.sessions_ended([ended], reason="account_page")
    db.session.commit()
    if sid == current.sid:
        login_session.end()  # clears this browser's cookie
        # Front-Channel Logout 1.0: this browser tells its applications through hidden iframes.
        iframes = frontchannel.signed_out_page([ended], continue_to=url_for("auth.home"))
        if iframes is not None:
            return iframes
        return redirect(url_for("auth.home"), 303)  # type: ignore[return-value]
    flash(_l("That session is signed out."), "success")
    return redirect(url_for("account.sessions"), 303)  # type: ignore[return-value]


@bp.post("/sessions/end-all")
@requires(signed_in)
def end_everywhere(*, current: login_session.LoginSession, person: Person) -> Response:
    """Sign out every session of this person, this browser included."""
    if not ActionForm().validate():
        return page("account/message.html", 400, error=EXPIRED)
    ended = login_session.end_all(person.id)
    signout.sessions_ended(ended, reason="account_page_all")
    db.session.commit()
    login_session.end()
    # Every ended session's sid goes to the front-channel applications (they key logout by sid, so
    # other devices' sessions end there too); back-channel notices were queued above.
    iframes = frontchannel.signed_out_page(ended, continue_to=url_for("auth.home"))
    if iframes is not None:
        return iframes
    return redirect(url_for("auth.home"), 303)  # type: ignore[return-value]


# --- applications ----------------------------------------------------------------------------------------
@bp.get("/apps")
@requires(signed_in)
def apps(*, current: login_session.LoginSession, person: Person) -> Response:
    """Applications the person allowed, with the scopes in plain words."""
    shown = [{"id": consent.id, "name": (client.client_metadata or {}).get("client_name") or client.client_id,
              "scopes": [SCOPE_TEXT.get(s, s) for s in consent.scopes.split() if s in SCOPE_TEXT],
              "granted": consent.granted_at} for consent, client in rights.consents(person.id)]
    return page("account/apps.html", **_nav("apps", apps=shown, form=ActionForm()))


@bp.post("/apps/revoke/<int:consent_id>")
@requires(signed_in)
def revoke_app(consent_id: int, *, current: login_session.LoginSession, person: Person) -> Response:
    """Withdraw consent (UU PDP): delete it and revoke that application's refresh token families."""
    if not ActionForm().validate():
        return page("account/message.html", 400, error=EXPIRED)
    # An integer column: a larger number from the URL is "not found" (idp.consoles.account).
    if not rights.withdraw_consent(person, consent_id):
        return page("account/message.html", 404, error=_l("That application has no access any more."))
    flash(_l("The application's access is withdrawn."), "success")
    return redirect(url_for("account.apps"), 303)  # type: ignore[return-value]


# --- password ---------------------------------------------------------------------------------------------
@bp.route("/password", methods=["GET", "POST"])
@requires(signed_in)
def password(*, current: login_session.LoginSession, person: Person) -> Response:
    """Citizens change their password; the person's other sessions end."""
    account = citizen_account(person.id)
    if account is None:
        return page("account/message.html", 404, active="password",
                     error=_l("Staff accounts change their password the way their agency provides."))
    form = PasswordForm()
    if request.method != "POST":
        return page("account/password.html", form=form, active="password")
    ok = form.validate()
    status = 400
    if ok:
        try:
            # The sign-in page's brute-force limits and counters (idp.ratelimit), not a way around them.
            signin.check_current_password(account, form.current_password.data or "")
        except signin.Refusal as refused:
            ok = False
            if refused.status == 429:
                status = 429
                minutes = int(refused.locked_minutes or 0)
                form.current_password.errors = [ngettext("Too many attempts. Try again in %(num)d minute.",
                                                         "Too many attempts. Try again in %(num)d minutes.",
                                                         minutes)]
            else:
                form.current_password.errors = [str(_l("The current password is wrong."))]
            audit.record("password.changed", outcome="failure", person_id=person.id,
                         reason="locked" if status == 429 else "invalid")
            db.session.commit()
    if ok:
        found_problems = passwords.problems(form.password.data or "", nik=citizen.decrypt_nik(account),
                                            email=account.email, name=account.full_name)
        if found_problems:
            form.password.errors = [str(found_problems[0])]
            ok = False
    if not ok:
        form.current_password.data = form.password.data = form.password_confirm.data = ""
        return page("account/password.html", status, form=form, active="password")
    rights.change_password(person, account, form.password.data or "", keep_sid=current.sid)
    flash(_l("Your password is changed. Your other sessions are signed out."), "success")
    return redirect(url_for("account.profile"), 303)  # type: ignore[return-value]


# --- prove my NIK (population registry) ------------------------------------------------------------------
class NikProofForm(FlaskForm):
    birthplace = StringField(_l("Place of birth"), description=_l("As written on your KTP."))
    mother_name = StringField(_l("Mother's maiden name (optional)"))


NIK_REFUSED = {
    "unavailable": _l("Verification with the population registry is not offered at the moment."),
    "no_nik": _l("Only citizen accounts have a NIK to verify."),
    "already": _l("Your NIK is already verified."),
    "pending": _l("Your request is already waiting for the registry's answer."),
    "rate_limited": _l("Too many requests today. Please try again tomorrow."),
    "invalid": _l("Enter your place of birth as written on your KTP (at most 100 characters)."),
}


@bp.route("/nik", methods=["GET", "POST"])
@requires(signed_in)
def nik(*, current: login_session.LoginSession, person: Person) -> Response:
    """How well the person's NIK is proven, and a request to the population registry (queued, never waited for)."""
    account = citizen_account(person.id)
    form = NikProofForm()
    context: dict[str, Any] = {"account": account, "form": form, "active": "nik", "offered": registry_configured(),
               "latest": nik_proof.latest(person.id), "method": citizen_method(account)}
    if request.method != "POST":
        return page("account/nik.html", **context)
    if not form.validate():
        return page("account/nik.html", 400, error=EXPIRED, **context)
    try:
        nik_proof.request_verification(person.id, form.birthplace.data or "", form.mother_name.data or None)
    except nik_proof.RequestRefused as exc:
        return page("account/nik.html", 409 if exc.reason in ("pending", "already") else 400,
                    error=NIK_REFUSED[exc.reason], **context)
    flash(_l("Your request is sent to the population registry. The answer usually takes a few minutes; "
             "this page shows it."), "success")
    return redirect(url_for("account.nik"), 303)  # type: ignore[return-value]


# --- download my data -----------------------------------------------------------------------------------
@bp.route("/data", methods=["GET", "POST"])
@requires(signed_in)
def data(*, current: login_session.LoginSession, person: Person) -> Response:
    """A page with a button; the POST answers with the JSON file (portability, UU PDP)."""
    form = ActionForm()
    if request.method != "POST":
        return page("account/data.html", form=form, active="data")
    if not form.validate():
        return page("account/data.html", 400, form=form, active="data", error=EXPIRED)
    body = json.dumps(rights.export(person), ensure_ascii=False, indent=2)
    audit.record("account.exported", person_id=person.id)
    db.session.commit()
    resp = Response(body, mimetype="application/json")
    resp.headers["Content-Disposition"] = 'attachment; filename="sso-banten-data.json"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


# --- delete my account ------------------------------------------------------------------------------------
@bp.route("/delete", methods=["GET", "POST"])
@requires(signed_in)
def delete_account(*, current: login_session.LoginSession, person: Person) -> Response:
    """Delete the account after a fresh sign-in and a confirmation (UU PDP right to erasure)."""
    form = ActionForm()
    fresh = time.time() - current.auth_time <= FRESH_SIGN_IN_SECONDS
    if not fresh:
        return page("account/delete.html", 403 if request.method == "POST" else 200, form=form,
                     active="delete", reauth=True)
    if request.method != "POST":
        return page("account/delete.html", form=form, active="delete", reauth=False)
    if not form.validate():
        return page("account/delete.html", 400, form=form, active="delete", reauth=False, error=EXPIRED)
    try:
        rights.delete_person(person)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    login_session.end()
    return page("account/deleted.html")
