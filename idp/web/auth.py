"""Sign-in, citizen self-registration, e-mail verification and the start page (thin: the work is in
:mod:`idp.sources.citizen`).

Every form is POST with a CSRF token; the NIK never appears in a URL, a redirect or a log line.
``req`` (a pending authorization request, contracts.md) travels along registration, verification and
sign-in so that the person ends up back at the application.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import unicodedata
from collections.abc import Callable
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import Blueprint, Response, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.routing import BuildError
from wtforms import BooleanField, HiddenField, PasswordField, RadioField, StringField
from wtforms.validators import ValidationError

from idp import audit, mail, metrics, passwords, ratelimit, sources
from idp.extensions import db, state
from idp.i18n import pick_ui_locales
from idp.models import CitizenAccount, Person
from idp.people import linking, provisioning, signout
from idp.people import session as login_session
from idp.sources import citizen, nik
from idp.sources.base import BadCredentials, Connector, Identity, SourceUnavailable
from idp.sources.nik import Nik

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

REQ_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
NAME_RE = re.compile(r"^[^\W\d_]+(?:[ .,'\-][^\W\d_]*)*\.?$")
MAX_FIELD = 254


# --- login kinds (the identity sources, idp.sources.registry) ----------------------------------------
AUTO = "auto"


def login_kinds() -> list[tuple[str, Any, Callable[[], Connector]]]:
    """The kinds of sign-in this provider offers now (staff only when a directory is configured)."""
    return [(source.name, source.label, source.connector) for source in sources.available()]


def _kind_choices() -> list[tuple[str, Any]]:
    return [(value, label) for value, label, _ in login_kinds()]


def auto_kind(identifier: str, offered: list[str]) -> str:
    """The kind for a sign-in where the person chose none (the rule documented in the README).

    The first offered source that recognizes the identifier (``Source.recognizes``): 16 digits (spaces,
    dots and dashes ignored) or anything with "@" is a citizen, anything else a staff user name when a
    directory is configured.  An explicit choice always wins (Active Directory staff who type
    ``name@domain`` choose "Pegawai").
    """
    for name in sources.names():
        if name in offered and sources.get(name).recognizes(identifier):
            return name
    return sources.names()[0]


# What the page says for a wrong credential, per kind (the same text for an unknown user: no enumeration).
WRONG_CREDENTIALS: dict[str, Any] = {source.name: source.wrong_credentials for source in sources.SOURCES}
# Why an existing account cannot sign in (BadCredentials.reason), shown with HTTP 403.
REFUSED: dict[str, Any] = {
    "disabled": _l("This account has been disabled. Please contact the help desk."),
    "locked": _l("This directory account is locked. Ask your agency's directory administrator to unlock it."),
    "password_expired": _l("Your directory password has expired. Change it the way your agency provides "
                           "(for example on a work computer), then sign in again."),
    "must_change": _l("You must change your directory password before you can sign in. Change it the way "
                      "your agency provides (for example on a work computer), then sign in again."),
}
UNAVAILABLE: dict[str, Any] = {source.name: source.unavailable for source in sources.SOURCES}


# --- forms ---------------------------------------------------------------------------------------
def _no_control(value: str) -> bool:
    return not any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") for ch in value)


class LoginForm(FlaskForm):
    kind = RadioField(_l("Sign in as"), validate_choice=False)
    identifier = StringField(_l("NIK or e-mail address"))
    password = PasswordField(_l("Password"))
    remember = BooleanField(_l("Keep me signed in on this device"))
    req = HiddenField()


class RegisterForm(FlaskForm):
    nik = StringField(_l("NIK (16 digits)"), description=_l("The number on your KTP or family card (KK)."))
    full_name = StringField(_l("Full name"), description=_l("As written on your KTP."))
    birthdate = StringField(_l("Date of birth"), description=_l("For example 1990-05-17."))
    email = StringField(_l("E-mail address"), description=_l("We send a link to confirm it."))
    password = PasswordField(_l("Password"), description=_l("At least %(n)d characters. A few unrelated words "
                                                            "are easy to remember and hard to guess.", n=10))
    password_confirm = PasswordField(_l("Repeat the password"))
    req = HiddenField()

    parsed_nik: Nik | None = None
    parsed_birthdate: dt.date | None = None
    normalized_email: str = ""

    def validate_nik(self, field: StringField) -> None:
        result = nik.parse(field.data or "")
        if isinstance(result, list):
            raise ValidationError(" ".join(str(f.message) for f in result))
        self.parsed_nik = result

    def validate_full_name(self, field: StringField) -> None:
        value = " ".join((field.data or "").split())
        if not value:
            raise ValidationError(_l("Enter your full name."))
        if len(value) > 200:
            raise ValidationError(_l("The name is too long (at most 200 characters)."))
        if not _no_control(value) or not NAME_RE.match(value):
            raise ValidationError(_l("Use letters, spaces and the characters . , ' - only."))
        field.data = value

    def validate_birthdate(self, field: StringField) -> None:
        raw = (field.data or "").strip()
        if not raw:
            raise ValidationError(_l("Enter your date of birth."))
        try:
            value = dt.date.fromisoformat(raw) if len(raw) == 10 else None
        except ValueError:
            value = None
        if value is None:
            raise ValidationError(_l("Enter a real date as year-month-day, for example 1990-05-17."))
        if value > dt.date.today() or value.year < 1900:
            raise ValidationError(_l("The date of birth must be in the past (after 1900)."))
        self.parsed_birthdate = value

    def validate_email(self, field: StringField) -> None:
        raw = (field.data or "").strip()
        if not raw:
            raise ValidationError(_l("Enter your e-mail address."))
        try:
            if len(raw) > MAX_FIELD or not _no_control(raw):
                raise EmailNotValidError("bad")
            checked = validate_email(raw, check_deliverability=False, allow_smtputf8=False)
        except EmailNotValidError:
            raise ValidationError(_l("Enter an e-mail address like name@example.com.")) from None
        self.normalized_email = citizen.normalize_email(checked.normalized)

    def validate_password(self, field: PasswordField) -> None:
        found = passwords.problems(field.data or "", nik=nik.normalize(self.nik.data or ""),
                                   email=(self.email.data or "").strip(), name=self.full_name.data or "")
        if found:
            raise ValidationError(str(found[0]))

    def validate_password_confirm(self, field: PasswordField) -> None:
        if not field.data:
            raise ValidationError(_l("Repeat the password."))
        if field.data != self.password.data:
            raise ValidationError(_l("The two passwords are not the same."))


class ResendForm(FlaskForm):
    email = StringField(_l("E-mail address"))
    req = HiddenField()


class ConfirmForm(FlaskForm):
    token = HiddenField()


# --- helpers -------------------------------------------------------------------------------------

def clean_req(value: Any) -> str | None:
    """A syntactically possible request id, or None (never trusted beyond that)."""
    return value if isinstance(value, str) and REQ_RE.match(value) else None


def pending_request(req: str | None) -> dict[str, Any] | None:
    """The stored authorization request ``req`` names, and use its ``ui_locales`` for the page."""
    if not req:
        return None
    value = state().store.get("authreq", req)
    if not isinstance(value, dict):
        return None
    picked = pick_ui_locales(value.get("ui_locales"))
    if picked and not g.get("ui_locale"):
        g.ui_locale = picked
    return value


def _resume_url(req: str) -> str:
    try:
        return url_for("oauth.authorize_resume", req=req)
    except BuildError:  # the protocol blueprint is not installed
        return "/authorize/resume?req=" + req


def _client_ip() -> str | None:
    return request.remote_addr


def _page(template: str, http_status: int = 200, **context: Any) -> Response:
    return Response(render_template(template, **context), status=http_status, mimetype="text/html")


# --- start page ----------------------------------------------------------------------------------
@bp.get("/")
def home() -> Response:
    """The signed-in person's masked NIK, name and e-mail with a sign-out link; else sign-in links."""
    current = login_session.current()
    person = account = None
    if current is not None:
        person = db.session.get(Person, current.person_id)
        account = db.session.execute(
            select(CitizenAccount).where(CitizenAccount.person_id == current.person_id)
        ).scalar_one_or_none()
    return _page("auth/home.html", signed_in=current, person=person, account=account)


# --- sign-in -------------------------------------------------------------------------------------
class Refusal(Exception):
    """A credential check that did not prove anybody: the HTTP status and what the page shows."""

    def __init__(self, status: int, **page: Any) -> None:
        super().__init__(status)
        self.status = status
        self.page = page


def prove(kind: str, identifier: str, password: str, *, req: str | None = None) -> Identity:
    """Check a credential of ``kind`` under the brute-force limits; the :class:`Identity` or :class:`Refusal`.

    Used by the sign-in page and by account linking (which proves a second credential).  The limits
    are checked BEFORE the connector: a locked-out user name costs the directory nothing.
    """
    factory = {value: f for value, _, f in login_kinds()}[kind]
    ident_key = ratelimit.identifier_key(f"{kind}:{_normalized_identifier(identifier)}")
    ip = _client_ip()
    generic = WRONG_CREDENTIALS[kind]
    wait = ratelimit.locked_for(ident_key, ip)
    if wait:
        metrics.sign_in(kind, "locked")
        raise Refusal(429, error=generic, locked_minutes=ratelimit.minutes(wait))
    try:
        proved = factory().authenticate(identifier, password)
    except SourceUnavailable:
        # The connector logged which server failed; citizens are not affected by a directory outage.
        log.warning("sign-in source %s unavailable", kind)
        metrics.sign_in(kind, "unavailable")
        if dependency := sources.get(kind).dependency:
            metrics.dependency_error(dependency)
        raise Refusal(503, error=UNAVAILABLE[kind], unavailable=True) from None
    except BadCredentials as exc:
        person_id = exc.context.get("person_id")
        if exc.reason == "invalid" or (exc.reason == "locked" and sources.get(kind).own_lockout):
            locked = ratelimit.record_failure(ident_key, ip)
            audit.record("login", outcome="failure", person_id=person_id, reason="invalid", source=kind)
            db.session.commit()
            if locked:
                _notify_lock(kind, identifier, person_id, locked)
            raise Refusal(429 if locked else 401, error=generic,
                          locked_minutes=ratelimit.minutes(locked) if locked else None) from None
        ratelimit.record_success(ident_key)
        audit.record("login", outcome="failure", person_id=person_id, reason=exc.reason, source=kind)
        db.session.commit()  # keeps a rehashed password
        if exc.reason == "unverified":
            resend = ResendForm(formdata=None, email=exc.context.get("email", ""), req=req or "")
            raise Refusal(403, unverified=True, resend_form=resend) from None
        raise Refusal(403, error=REFUSED.get(exc.reason, _l("You cannot sign in with this account right now. "
                                                             "Please contact the help desk."))) from None
    ratelimit.record_success(ident_key)
    return proved


def citizen_limit_keys(account: CitizenAccount) -> list[str]:
    """The sign-in page's per-identifier counters of this citizen: one for each identifier the page
    accepts for the account (the NIK and the e-mail address)."""
    typed = [citizen.decrypt_nik(account) or "", account.email or ""]
    return [ratelimit.identifier_key(f"citizen:{_normalized_identifier(value)}") for value in typed if value]


def check_current_password(account: CitizenAccount, password: str) -> None:
    """The current password of a signed-in citizen (to change it), under the sign-in page's limits.

    The same per-identifier and per-IP counters as :func:`prove`, so a stolen session cannot guess the
    password here more often than at the sign-in page, and failures here lock the sign-in page too.
    Raises :class:`Refusal` (401 wrong, 429 locked).
    """
    keys = citizen_limit_keys(account)
    ip = _client_ip()
    wait = ratelimit.locked_for(keys, ip)
    if wait:
        raise Refusal(429, locked_minutes=ratelimit.minutes(wait))
    if not passwords.verify(account.password_hash, password):
        locked = ratelimit.record_failure(keys, ip)
        if locked:
            _notify_lock("citizen", "", account.person_id, locked)
        raise Refusal(429 if locked else 401, locked_minutes=ratelimit.minutes(locked) if locked else None)
    ratelimit.record_success(keys)


def _notify_lock(kind: str, identifier: str, person_id: int | None, seconds: int) -> None:
    """Tell the owner of a real account that sign-in is paused (the page says the same to everybody).

    The mail goes out from a thread, so that the answer takes no longer for a real account than for an
    unknown one; a failure to send is logged, never shown.
    """
    if person_id is None and kind == "ldap":
        from idp.models import StaffAccount

        person_id = db.session.execute(select(StaffAccount.person_id).where(
            StaffAccount.username == identifier.strip().lower()[:MAX_FIELD])).scalars().first()
    person = db.session.get(Person, person_id) if person_id is not None else None
    if person is None or not person.email:
        return
    try:
        two_step_url = url_for("mfa.status", _external=True)
    except BuildError:
        two_step_url = state().config["ISSUER"] + "/account/two-step"
    subject, body = mail.render("auth/mail/locked.txt", name=person.name or "", minutes=ratelimit.minutes(seconds),
                                two_step_url=two_step_url)
    app, to = current_app._get_current_object(), person.email  # type: ignore[attr-defined]
    audit.record("login.locked", person_id=person.id, source=kind, seconds=seconds, commit=True)

    def send() -> None:
        with app.app_context():
            try:
                mail.send(to, subject, body, kind="locked")
            except mail.MailError:
                log.warning("could not send the sign-in lock notice")

    threading.Thread(target=send, name="idp-lock-notice", daemon=True).start()


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response:
    form = LoginForm()
    kinds = {value: factory for value, _, factory in login_kinds()}
    form.kind.choices = _kind_choices()
    if "ldap" in kinds:
        form.identifier.label.text = _l("NIK, e-mail address or staff user name")
    req = clean_req(request.values.get("req"))
    pending = pending_request(req)
    expired = bool(request.values.get("req")) and pending is None
    page: dict[str, Any] = {"pending": pending, "expired": expired, "req": req,
                            "config_remember_days": _remember_days()}
    if request.method == "GET":
        form.req.data = req or ""
        back = safe_next(request.args.get("next"))
        if back and not req:
            session["after_sign_in"] = back  # where the portal or console sent the person from
        hint = (pending or {}).get("login_hint")
        if isinstance(hint, str) and len(hint) <= MAX_FIELD and _no_control(hint):
            form.identifier.data = hint
        return _page("auth/login.html", form=form, **page)

    chosen = form.kind.data or AUTO
    if not form.validate() or (chosen != AUTO and chosen not in kinds):  # CSRF token, then the kind
        form.kind.data = None
        return _page("auth/login.html", 400, form=form, error=_l("Choose how you sign in."), **page)
    identifier = (form.identifier.data or "").strip()
    kind = auto_kind(identifier, list(kinds)) if chosen == AUTO else chosen
    try:
        proved = prove(kind, identifier, form.password.data or "", req=req)
    except Refusal as refusal:
        form.password.data = ""
        return _page("auth/login.html", refusal.status, form=form, **page, **refusal.page)

    person = _person_for(proved)
    if person.status != "active":
        db.session.rollback()
        form.password.data = ""
        return _page("auth/login.html", 403, form=form, error=REFUSED["disabled"], **page)
    remember = bool(form.remember.data) and state().config["SESSION_REMEMBER_TTL"] > 0
    if second_factor_needed(person, proved.source, pending):
        # The password is proved; the session starts only after the code (idp.web.mfa).
        db.session.commit()  # the person's record as refreshed from the source
        from idp.web import mfa as mfa_views

        return mfa_views.start({"person_id": person.id, "acr": proved.acr, "amr": list(proved.amr),
                                "source": proved.source, "remember": remember, "req": req})
    return finish_sign_in(person, acr=proved.acr, amr=list(proved.amr), source=proved.source,
                          remember=remember, req=req)


def second_factor_needed(person: Person, source: str, pending: dict[str, Any] | None) -> bool:
    """Whether this sign-in needs a second factor: the person has one, the application asks for the MFA
    level (``acr_values``), or the person holds a role that requires it (``IDP_MFA_REQUIRED_ROLES``),
    whichever credential (``source``) was used."""
    from idp import assurance
    from idp.people import mfa

    if mfa.has_totp(person.id):
        return True
    params = dict((pending or {}).get("params") or [])
    if assurance.MFA in str(params.get("acr_values") or "").split():
        return True
    # A role that requires a second factor requires it whatever credential proved the person: an
    # administrator who also linked a citizen account must not skip it by signing in as the citizen.
    from idp.people import roles

    return roles.second_factor_required(person.id)


def finish_sign_in(person: Person, *, acr: str, amr: list[str], source: str, remember: bool, req: str | None,
                   recovery: bool = False) -> Response:
    """Start (or renew) the session of a person who proved every factor asked of them, then go on."""
    pending = pending_request(req)
    expired = bool(req) and pending is None
    previous = login_session.current()
    if previous is not None and previous.person_id == person.id:
        login_session.reauthenticate(previous, acr=acr, amr=amr, source=source)
    else:
        # Another person signs in in this browser: the previous session ends, with its consequences
        # (refresh tokens of that session revoked, back-channel notices to its applications).
        signout.sessions_ended([login_session.end()], reason="new-sign-in")
        login_session.begin(person_id=person.id, sub=person.sub, acr=acr, amr=amr, source=source,
                            remember=remember)
    audit.record("login", person_id=person.id, client_id=(pending or {}).get("client_id"), source=source, acr=acr)
    db.session.commit()
    if recovery:
        from idp.people import mfa

        flash(_l("You signed in with a recovery code. You have %(n)d left; make new ones on the two-step "
                 "verification page if you are running out.", n=mfa.recovery_codes_left(person.id)), "info")
    if source == "ldap" and not session.get("link_offer_declined") and linking.citizen_link_offered(person):
        # The directory's NIK, or its NIP's birth date and sex digit, suggests a citizen account here
        # (idp.people.linking.citizen_link_offered): offer the link (it still needs that account's password);
        # "continue without linking" goes on to the application.
        args: dict[str, Any] = {"kind": "citizen", "offer": 1, **({"req": req} if req and pending is not None else {})}
        return redirect(url_for("linking.link", **args), 303)  # type: ignore[return-value]
    if req and pending is not None:
        return redirect(_resume_url(req), 303)  # type: ignore[return-value]
    if expired:
        flash(_l("You are signed in, but the application's sign-in request has expired. Go back to the "
                 "application and start again."), "info")
    back = safe_next(session.pop("after_sign_in", None))
    return redirect(back or url_for("auth.home"), 303)  # type: ignore[return-value]


def safe_next(value: Any) -> str | None:
    """A path on this provider to return to after sign-in, or None: never another site (open redirect,
    RFC 9700 4.11): one leading slash, no scheme-relative double slash or backslash, printable, bounded."""
    if not isinstance(value, str) or not value.startswith("/") or len(value) > 512:
        return None
    if value.startswith(("//", "/\\")) or "\\" in value or not value.isprintable() or not value.isascii():
        return None
    return value


def _remember_days() -> int:
    """Days "remember me" lasts, for the page (0: the choice is not offered)."""
    ttl = int(state().config["SESSION_REMEMBER_TTL"])
    return max(1, ttl // 86400) if ttl else 0


def _person_for(proved: Identity) -> Person:
    """The person behind a proved identity; staff also get their directory record refreshed."""
    return provisioning.provision(proved)


def _normalized_identifier(identifier: str) -> str:
    if nik.looks_like_nik(identifier):
        return nik.normalize(identifier) or ""
    return identifier[:MAX_FIELD].strip().lower()


# --- registration --------------------------------------------------------------------------------
@bp.route("/register-account", methods=["GET", "POST"])
def register() -> Response:
    form = RegisterForm()
    form.password.description = _l("At least %(n)d characters. A few unrelated words are easy to remember "
                                   "and hard to guess.", n=state().config["PASSWORD_MIN_LENGTH"])
    req = clean_req(request.values.get("req"))
    pending = pending_request(req)
    if request.method == "GET":
        form.req.data = req or ""
        return _page("auth/register.html", form=form, pending=pending, req=req)
    if not form.validate():
        form.password.data = form.password_confirm.data = ""
        return _page("auth/register.html", 400, form=form, pending=pending, req=req)
    assert form.parsed_nik is not None and form.parsed_birthdate is not None
    reg = citizen.Registration(nik=form.parsed_nik, full_name=form.full_name.data or "",
                               birthdate=form.parsed_birthdate, email=form.normalized_email,
                               password=form.password.data or "", req=req,
                               locale=str(g.get("ui_locale") or "") or None)
    try:
        citizen.register(reg)
    except mail.MailError:
        db.session.rollback()
        return _page("error.html", 503, status=503, code="temporarily_unavailable", ref=None,
                     message=_l("We could not send the confirmation e-mail right now. Nothing was saved; "
                                "please try again in a few minutes."))
    # The same page for new accounts and duplicates (no enumeration): Post/Redirect/Get.
    session["registered"] = {"review": citizen.needs_review(reg)}
    return redirect(url_for("auth.registered", req=req) if req else url_for("auth.registered"),
                    303)  # type: ignore[return-value]


@bp.get("/register-account/sent")
def registered() -> Response:
    info = session.get("registered") or {}
    req = clean_req(request.args.get("req"))
    return _page("auth/registered.html", review=bool(info.get("review")), req=req,
                 resend_form=ResendForm(formdata=None, req=req or ""))


# --- e-mail verification ------------------------------------------------------------------------
@bp.route("/verify-email", methods=["GET", "POST"])
def verify_email() -> Response:
    """GET shows a button; POST consumes the token.  Mail scanners that follow links (GET) therefore
    cannot use up the single-use link before the person does."""
    form = ConfirmForm()
    if request.method == "GET":
        token = request.args.get("token", "")
        if citizen.peek_verification(token) is None:
            return _page("auth/verify_invalid.html", 400, resend_form=ResendForm(formdata=None))
        form.token.data = token
        return _page("auth/verify.html", form=form)
    if not form.validate():
        return _page("auth/verify_invalid.html", 400, resend_form=ResendForm(formdata=None))
    account, req = citizen.confirm_email(form.token.data or "")
    if account is None:
        return _page("auth/verify_invalid.html", 400, resend_form=ResendForm(formdata=None))
    flash(_l("Your e-mail address is confirmed. You can sign in now."), "success")
    req = clean_req(req)
    return redirect(url_for("auth.login", req=req) if req else url_for("auth.login"), 303)  # type: ignore[return-value]


@bp.route("/verify-email/resend", methods=["GET", "POST"])
def resend_verification() -> Response:
    """Send the link again; the answer is the same whether or not the address has an account."""
    form = ResendForm()
    req = clean_req(request.values.get("req"))
    if request.method == "GET":
        form.req.data = req or ""
        return _page("auth/resend.html", form=form, req=req)
    if not form.validate():
        return _page("auth/resend.html", 400, form=form, req=req)
    email = (form.email.data or "").strip()
    if email and len(email) <= MAX_FIELD and _no_control(email):
        try:
            citizen.resend_verification(citizen.normalize_email(email), req)
        except mail.MailError:
            pass  # logged in idp.mail; the answer must not differ
    return _page("auth/resend_sent.html", req=req)
