"""The account pages at ``/account``: what the provider holds about the signed-in person, and control over it.

These pages carry out the data subject rights of UU PDP (Law 27/2022): information and access
(profile, linked accounts, sessions, applications), correction (the citizen's name, and e-mail address
with re-verification: :mod:`idp.people.email_change`), withdrawal of consent (revoke an application),
portability (download my data) and deletion (delete my account).
Every page needs a signed-in session; every change is a POST with a CSRF token.  Linking and
unlinking live in :mod:`idp.web.linking`; these pages only link to them.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, flash, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_wtf import FlaskForm
from sqlalchemy import delete, select
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import ValidationError

from idp import audit, mail, passwords, sources
from idp.extensions import db, state
from idp.models import (
    AuditEvent,
    CitizenAccount,
    Client,
    Consent,
    IdentityLink,
    Person,
    RecoveryCode,
    RefreshToken,
    StaffAccount,
    TeamMember,
    TotpCredential,
)
from idp.oauth import frontchannel, tokens
from idp.people import email_change, identity, roles, signout
from idp.people import session as login_session
from idp.people.claims import SCOPE_TEXT
from idp.sources import citizen
from idp.web.auth import Refusal, RegisterForm, _page, check_current_password

bp = Blueprint("account", __name__, url_prefix="/account")

# Deleting the account needs a sign-in this recent (the same rule as unlinking, idp.web.linking).
FRESH_SIGN_IN_SECONDS = 300
AUDIT_IN_DOWNLOAD = 50
MAX_ID = 2**31 - 1
SOURCE_TEXT: dict[str, Any] = sources.account_labels()  # "which credential": idp.sources.registry
EXPIRED = _l("The form has expired. Please try again.")


# --- forms ---------------------------------------------------------------------------------------
class ProfileForm(FlaskForm):
    full_name = StringField(_l("Full name"), description=_l("As written on your KTP."))

    # The same rule as registration (imported, not copied: one place decides what a name may be).
    validate_full_name = RegisterForm.validate_full_name


class EmailForm(FlaskForm):
    email = StringField(_l("New e-mail address"),
                        description=_l("We send a link to the new address. Your current address stays in use "
                                       "until you open it."))

    normalized_email: str = ""
    # The same rule as registration (one place decides what an address may be).
    validate_email = RegisterForm.validate_email


class ConfirmEmailForm(FlaskForm):
    token = HiddenField()


class PasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"))
    password = PasswordField(_l("New password"))
    password_confirm = PasswordField(_l("Repeat the new password"))

    def validate_password_confirm(self, field: PasswordField) -> None:
        if not field.data:
            raise ValidationError(_l("Repeat the password."))
        if field.data != self.password.data:
            raise ValidationError(_l("The two passwords are not the same."))


class ActionForm(FlaskForm):
    """A button: only the CSRF token."""


# --- helpers -------------------------------------------------------------------------------------
def _to_login() -> Response:
    return redirect(url_for("auth.login"), 303)  # type: ignore[return-value]


def signed_in_view(view: Callable[..., Response]) -> Callable[..., Response]:
    """Give the view this browser's session and active person (keyword arguments ``current`` and
    ``person``); without them, send the browser to the sign-in page."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        found = identity.signed_in()
        if found is None:
            return _to_login()
        current, person = found
        return view(*args, current=current, person=person, **kwargs)

    return wrapper


def _citizen_account(person_id: int) -> CitizenAccount | None:
    return db.session.execute(
        select(CitizenAccount).where(CitizenAccount.person_id == person_id)).scalars().first()


def _staff_account(person_id: int) -> StaffAccount | None:
    return db.session.execute(select(StaffAccount).where(StaffAccount.person_id == person_id)).scalars().first()


def _client_names(client_ids: list[str]) -> dict[str, str]:
    if not client_ids:
        return {}
    rows = db.session.execute(select(Client.client_id, Client.client_metadata)
                              .where(Client.client_id.in_(client_ids))).all()
    return {cid: str((meta or {}).get("client_name") or cid) for cid, meta in rows}


def _when(epoch: int | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).replace(tzinfo=None) if epoch else None


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


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
    return _page("account/profile.html", status, form=form, email_form=email_form,
                 directory_email=DIRECTORY_EMAIL,
                 **_nav("profile", person=person, account=account, staff=_staff_account(person.id)))


@bp.route("", methods=["GET", "POST"])
@signed_in_view
def profile(*, current: login_session.LoginSession, person: Person) -> Response:
    """Name, e-mail, masked NIK (citizens) or directory data (staff, read only); citizens correct their name."""
    account = _citizen_account(person.id)
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
@signed_in_view
def change_email(*, current: login_session.LoginSession, person: Person) -> Response:
    """Ask to use a new e-mail address (citizens): a link goes to it, a notice to the current one.

    The answer is the same whether or not another account uses the address (see idp.people.email_change).
    """
    account = _citizen_account(person.id)
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
            return _page("account/message.html", 400, error=invalid)
        form.token.data = token
        return _page("account/email_confirm.html", form=form)
    if not form.validate():
        return _page("account/message.html", 400, error=invalid)
    if email_change.confirm(form.token.data or "") is None:
        return _page("account/message.html", 400, error=invalid)
    flash(_l("Your new e-mail address is confirmed and in use now."), "success")
    return redirect(url_for("account.profile"), 303)  # type: ignore[return-value]


# --- linked accounts -------------------------------------------------------------------------------
@bp.get("/linked")
@signed_in_view
def linked(*, current: login_session.LoginSession, person: Person) -> Response:
    """The person's credentials with link/unlink (the routes are in idp.web.linking)."""
    links = db.session.execute(select(IdentityLink).where(IdentityLink.person_id == person.id)
                               .order_by(IdentityLink.created_at, IdentityLink.id)).scalars().all()
    have = {link.source for link in links}
    from idp.web.auth import login_kinds

    missing = [kind for kind, _, _ in login_kinds() if kind not in have]
    return _page("account/linked.html", **_nav("linked", links=links, missing=missing, sources=SOURCE_TEXT,
                                               form=ActionForm()))


# --- sessions ------------------------------------------------------------------------------------------
@bp.get("/sessions")
@signed_in_view
def sessions(*, current: login_session.LoginSession, person: Person) -> Response:
    """Every live session of the person, this one marked."""
    rows = login_session.sessions_of(person.id)
    names = _client_names(sorted({c for s in rows for c in s.clients}))
    shown = [{"sid": s.sid, "created": _when(s.created), "auth_time": _when(s.auth_time), "acr": s.acr,
              "source": SOURCE_TEXT.get(s.source, s.source), "this": s.sid == current.sid,
              "device": s.device, "ip": s.ip, "clients": [names.get(c, c) for c in s.clients]} for s in rows]
    return _page("account/sessions.html", **_nav("sessions", sessions=shown, form=ActionForm()))


@bp.post("/sessions/end/<sid>")
@signed_in_view
def end_session(sid: str, *, current: login_session.LoginSession, person: Person) -> Response:
    """Sign out one session of this person (another device, or this one)."""
    if not ActionForm().validate():
        return _page("account/message.html", 400, error=EXPIRED)
    mine = {s.sid for s in login_session.sessions_of(person.id)}
    if sid not in mine:  # another person's sid (or none): never end it, say nothing about it
        return _page("account/message.html", 404, error=_l("That session has already ended."))
    ended = login_session.end_sid(sid)
    signout.sessions_ended([ended], reason="account_page")
    db.session.commit()
    if sid == current.sid:
        login_session.end()  # clears this browser's cookie
        # Front-Channel Logout 1.0: this browser tells its applications through hidden iframes.
        page = frontchannel.signed_out_page([ended], continue_to=url_for("auth.home"))
        if page is not None:
            return page
        return redirect(url_for("auth.home"), 303)  # type: ignore[return-value]
    flash(_l("That session is signed out."), "success")
    return redirect(url_for("account.sessions"), 303)  # type: ignore[return-value]


@bp.post("/sessions/end-all")
@signed_in_view
def end_everywhere(*, current: login_session.LoginSession, person: Person) -> Response:
    """Sign out every session of this person, this browser included."""
    if not ActionForm().validate():
        return _page("account/message.html", 400, error=EXPIRED)
    ended = login_session.end_all(person.id)
    signout.sessions_ended(ended, reason="account_page_all")
    db.session.commit()
    login_session.end()
    # Every ended session's sid goes to the front-channel applications (they key logout by sid, so
    # other devices' sessions end there too); back-channel notices were queued above.
    page = frontchannel.signed_out_page(ended, continue_to=url_for("auth.home"))
    if page is not None:
        return page
    return redirect(url_for("auth.home"), 303)  # type: ignore[return-value]


# --- applications ----------------------------------------------------------------------------------------
def _consents(person_id: int) -> list[tuple[Consent, Client]]:
    return [(c, cl) for c, cl in db.session.execute(
        select(Consent, Client).join(Client, Client.id == Consent.client_id)
        .where(Consent.person_id == person_id).order_by(Consent.granted_at, Consent.id)).all()]


@bp.get("/apps")
@signed_in_view
def apps(*, current: login_session.LoginSession, person: Person) -> Response:
    """Applications the person allowed, with the scopes in plain words."""
    shown = [{"id": consent.id, "name": (client.client_metadata or {}).get("client_name") or client.client_id,
              "scopes": [SCOPE_TEXT.get(s, s) for s in consent.scopes.split() if s in SCOPE_TEXT],
              "granted": consent.granted_at} for consent, client in _consents(person.id)]
    return _page("account/apps.html", **_nav("apps", apps=shown, form=ActionForm()))


def _revoke_client_tokens(person_id: int, client_pk: int, reason: str) -> int:
    families = db.session.execute(
        select(RefreshToken.family_id).where(RefreshToken.person_id == person_id,
                                             RefreshToken.client_id == client_pk).distinct()).scalars().all()
    for family in families:
        tokens.revoke_family(family, reason)
    return len(families)


@bp.post("/apps/revoke/<int:consent_id>")
@signed_in_view
def revoke_app(consent_id: int, *, current: login_session.LoginSession, person: Person) -> Response:
    """Withdraw consent (UU PDP): delete it and revoke that application's refresh token families."""
    if not ActionForm().validate():
        return _page("account/message.html", 400, error=EXPIRED)
    # An integer column: a larger number from the URL would be a database error, not "not found".
    consent = db.session.get(Consent, consent_id) if consent_id <= MAX_ID else None
    if consent is None or consent.person_id != person.id:
        return _page("account/message.html", 404, error=_l("That application has no access any more."))
    client = db.session.get(Client, consent.client_id)
    revoked = _revoke_client_tokens(person.id, consent.client_id, "consent_revoked")
    db.session.delete(consent)
    audit.record("consent.revoked", person_id=person.id, client_id=client.client_id if client else None,
                 families=revoked)
    db.session.commit()
    flash(_l("The application's access is withdrawn."), "success")
    return redirect(url_for("account.apps"), 303)  # type: ignore[return-value]


# --- password ---------------------------------------------------------------------------------------------
@bp.route("/password", methods=["GET", "POST"])
@signed_in_view
def password(*, current: login_session.LoginSession, person: Person) -> Response:
    """Citizens change their password; the person's other sessions end."""
    account = _citizen_account(person.id)
    if account is None:
        return _page("account/message.html", 404, active="password",
                     error=_l("Staff accounts change their password the way their agency provides."))
    form = PasswordForm()
    if request.method != "POST":
        return _page("account/password.html", form=form, active="password")
    ok = form.validate()
    status = 400
    if ok:
        try:
            # The sign-in page's brute-force limits and counters (idp.ratelimit), not a way around them.
            check_current_password(account, form.current_password.data or "")
        except Refusal as refused:
            ok = False
            if refused.status == 429:
                status = 429
                minutes = int(refused.page["locked_minutes"])
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
        return _page("account/password.html", status, form=form, active="password")
    account.password_hash = passwords.hash(form.password.data or "")
    account.password_changed_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    # Someone who knew the old password may be signed in elsewhere: end every other session.
    ended = login_session.end_all(person.id, except_sid=current.sid)
    signout.sessions_ended(ended, reason="password_changed")
    audit.record("password.changed", person_id=person.id, sessions_ended=len(ended))
    db.session.commit()
    flash(_l("Your password is changed. Your other sessions are signed out."), "success")
    return redirect(url_for("account.profile"), 303)  # type: ignore[return-value]


# --- download my data -----------------------------------------------------------------------------------
def export(person: Person) -> dict[str, Any]:
    """Everything the provider holds about ``person`` for the person (no hashes, no other people)."""
    account = _citizen_account(person.id)
    staff_row = _staff_account(person.id)
    crypto = state().crypto
    profile_data: dict[str, Any] = {
        "sub": person.sub, "name": person.name, "email": person.email, "email_verified": person.email_verified,
        "birthdate": _iso(person.birthdate), "gender": person.gender, "locale": person.locale,
        "created_at": _iso(person.created_at), "updated_at": _iso(person.updated_at),
    }
    data: dict[str, Any] = {"profile": profile_data}
    if account is not None:
        # The person's own NIK, in full: it is their data (UU PDP access right).
        data["citizen_account"] = {
            "nik": citizen.decrypt_nik(account), "full_name": account.full_name, "email": account.email,
            "email_verified_at": _iso(account.email_verified_at), "birthdate": _iso(account.birthdate),
            "gender": account.gender, "assurance": account.assurance, "created_at": _iso(account.created_at),
            "password_changed_at": _iso(account.password_changed_at),
        }
    if staff_row is not None:
        data["staff_account"] = {
            "username": staff_row.username, "dn": staff_row.dn, "nip": staff_row.nip,
            "nik": crypto.decrypt(staff_row.nik_enc, "staff.nik") if staff_row.nik_enc else None,
            "unit": staff_row.unit, "title": staff_row.title, "groups": list(staff_row.groups or []),
            "roles": list(staff_row.roles or []), "status": staff_row.status,
            "last_seen_at": _iso(staff_row.last_seen_at), "last_synced_at": _iso(staff_row.last_synced_at),
        }
    links = db.session.execute(select(IdentityLink).where(IdentityLink.person_id == person.id)
                               .order_by(IdentityLink.id)).scalars().all()
    data["linked_accounts"] = [{"source": link.source, "linked_at": _iso(link.created_at),
                                "last_sign_in": _iso(link.last_login_at)} for link in links]
    data["consents"] = [{"application": (client.client_metadata or {}).get("client_name") or client.client_id,
                         "client_id": client.client_id, "scopes": consent.scopes.split(),
                         "granted_at": _iso(consent.granted_at), "updated_at": _iso(consent.updated_at)}
                        for consent, client in _consents(person.id)]
    live = login_session.sessions_of(person.id)
    names = _client_names(sorted({c for s in live for c in s.clients}))
    data["sessions"] = [{"started": _iso(_when(s.created)), "signed_in": _iso(_when(s.auth_time)), "acr": s.acr,
                         "amr": list(s.amr), "source": s.source, "device": s.device, "ip": s.ip,
                         "applications": [names.get(c, c) for c in s.clients]}
                        for s in live]
    events = db.session.execute(select(AuditEvent).where(AuditEvent.person_id == person.id)
                                .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                                .limit(AUDIT_IN_DOWNLOAD)).scalars().all()
    data["recent_events"] = [{"at": _iso(e.at), "event": e.event, "outcome": e.outcome, "client_id": e.client_id,
                              "ip": e.ip, "user_agent": e.user_agent} for e in events]
    return data


@bp.route("/data", methods=["GET", "POST"])
@signed_in_view
def data(*, current: login_session.LoginSession, person: Person) -> Response:
    """A page with a button; the POST answers with the JSON file (portability, UU PDP)."""
    form = ActionForm()
    if request.method != "POST":
        return _page("account/data.html", form=form, active="data")
    if not form.validate():
        return _page("account/data.html", 400, form=form, active="data", error=EXPIRED)
    body = json.dumps(export(person), ensure_ascii=False, indent=2)
    audit.record("account.exported", person_id=person.id)
    db.session.commit()
    resp = Response(body, mimetype="application/json")
    resp.headers["Content-Disposition"] = 'attachment; filename="sso-banten-data.json"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


# --- delete my account ------------------------------------------------------------------------------------
def delete_person(person: Person) -> int:
    """Remove everything personal of ``person`` and keep the row as ``deleted`` (the sub is never reused).

    The caller commits; the sessions end here (the store is not transactional, so the database work
    is flushed first: a failure there raises before any session ends).
    """
    families = db.session.execute(
        select(RefreshToken.family_id).where(RefreshToken.person_id == person.id,
                                             RefreshToken.revoked_at.is_(None)).distinct()).scalars().all()
    db.session.execute(delete(Consent).where(Consent.person_id == person.id))
    db.session.execute(delete(IdentityLink).where(IdentityLink.person_id == person.id))
    db.session.execute(delete(CitizenAccount).where(CitizenAccount.person_id == person.id))
    db.session.execute(delete(StaffAccount).where(StaffAccount.person_id == person.id))
    # The authenticator's secret (encrypted) and the recovery codes are personal data too (UU PDP erasure).
    db.session.execute(delete(TotpCredential).where(TotpCredential.person_id == person.id))
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.person_id == person.id))
    _leave_teams(person.id)
    person.name = person.email = person.birthdate = person.gender = person.locale = None
    person.email_verified = False
    person.status = "deleted"
    db.session.flush()
    ended = login_session.end_all(person.id)
    # keep_offline=False: a deleted person has no offline access either.
    signout.sessions_ended(ended, reason="account_deleted", keep_offline=False)
    for family in families:
        tokens.revoke_family(family, "account_deleted")  # also marks the family's access tokens revoked
    # The rows go too (the store's family marker refuses the access tokens; an unknown refresh token is
    # refused like a revoked one): no row of any table keeps pointing at the person but the person row.
    db.session.execute(delete(RefreshToken).where(RefreshToken.person_id == person.id))
    audit.record("account.deleted", person_id=person.id)
    return len(families)


def _leave_teams(person_id: int) -> None:
    """Remove the person from every team; a team that loses its last owner gets its longest-standing
    active staff member as owner (a team always keeps one owner while it has such a member)."""
    from idp.consoles.portal import MEMBER, OWNER

    memberships = db.session.execute(select(TeamMember).where(TeamMember.person_id == person_id)).scalars().all()
    for member in memberships:
        team_id, was_owner = member.team_id, member.role == OWNER
        db.session.delete(member)
        db.session.flush()
        if not was_owner or db.session.execute(select(TeamMember.id).where(
                TeamMember.team_id == team_id, TeamMember.role == OWNER)).first():
            continue
        for heir in db.session.execute(select(TeamMember).where(TeamMember.team_id == team_id,
                                                                TeamMember.role == MEMBER)
                                       .order_by(TeamMember.created_at, TeamMember.id)).scalars():
            if roles.is_staff(heir.person_id):
                heir.role = OWNER
                audit.record("portal.ownership_handed_over", person_id=person_id, team=team_id,
                             member=heir.person_id, reason="account_deleted")
                break


@bp.route("/delete", methods=["GET", "POST"])
@signed_in_view
def delete_account(*, current: login_session.LoginSession, person: Person) -> Response:
    """Delete the account after a fresh sign-in and a confirmation (UU PDP right to erasure)."""
    form = ActionForm()
    fresh = time.time() - current.auth_time <= FRESH_SIGN_IN_SECONDS
    if not fresh:
        return _page("account/delete.html", 403 if request.method == "POST" else 200, form=form,
                     active="delete", reauth=True)
    if request.method != "POST":
        return _page("account/delete.html", form=form, active="delete", reauth=False)
    if not form.validate():
        return _page("account/delete.html", 400, form=form, active="delete", reauth=False, error=EXPIRED)
    try:
        delete_person(person)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    login_session.end()
    return _page("account/deleted.html")
