"""The start page and the sign-in page; the sign-in itself is :mod:`idp.people.signin`.

``req`` (a pending authorization request, :mod:`idp.oauth.authorize`) travels along the sign-in so that
the person ends up back at the application; ``next`` (a page of this provider) when the portal or the
console sent the person here.
"""

from __future__ import annotations

from typing import Any

from flask import Response, flash, redirect, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, HiddenField, PasswordField, RadioField, StringField

from idp.extensions import db, state
from idp.models import CitizenAccount, Person
from idp.people import passkeys, signin
from idp.people import session as login_session
from idp.web.auth import bp
from idp.web.common import clean_req, page, pending_request, resume_url, safe_next, see_other
from idp.web.forms import MAX_FIELD, CeremonyForm, ResendForm, no_control, required

CHOOSE = _l("Choose how you sign in.")


class LoginForm(FlaskForm):
    kind = RadioField(_l("Sign in as"), validate_choice=False)
    identifier = StringField(_l("NIK, e-mail address or mobile number"), validators=[required])
    password = PasswordField(_l("Password"), validators=[required])
    remember = BooleanField(_l("Keep me signed in on this device"))
    req = HiddenField()


def refusal_context(refusal: signin.Refusal, req: str | None) -> dict[str, Any]:
    """What a sign-in (or linking) page shows for a refused credential."""
    context: dict[str, Any] = {"error": refusal.error, "locked_minutes": refusal.locked_minutes}
    if refusal.unavailable:
        context["unavailable"] = True
    if refusal.status == 403 and refusal.unverified_email is None:
        context["refused"] = True  # a disabled account: a dead end, so the help desk is named
    if refusal.unverified_email is not None:
        context["unverified"] = True
        context["resend_form"] = ResendForm(formdata=None, email=refusal.unverified_email, req=req or "")
    return context


def _remember_days() -> int:
    """Days "remember me" lasts, for the page (0: the choice is not offered)."""
    ttl = int(state().config["SESSION_REMEMBER_TTL"])
    return max(1, ttl // 86400) if ttl else 0


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
    return page("auth/home.html", signed_in=current, person=person, account=account)


# --- sign-in -------------------------------------------------------------------------------------
@bp.route("/login", methods=["GET", "POST"])
def login() -> Response:
    form = LoginForm()
    kinds = [value for value, _, _ in signin.login_kinds()]
    form.kind.choices = [(value, label) for value, label, _ in signin.login_kinds()]
    if "ldap" in kinds:
        form.identifier.label.text = _l("NIK, e-mail address, mobile number or staff user name")
    req = clean_req(request.values.get("req"))
    pending = pending_request(req)
    expired = bool(request.values.get("req")) and pending is None
    context: dict[str, Any] = {"pending": pending, "expired": expired, "req": req,
                               "config_remember_days": _remember_days(), "passkeys_enabled": passkeys.enabled(),
                               "passkey_form": CeremonyForm(formdata=None, req=req or "")}
    if request.method == "GET":
        form.req.data = req or ""
        back = safe_next(request.args.get("next"))
        if back and not req:
            session["after_sign_in"] = back  # where the portal or console sent the person from
        hint = (pending or {}).get("login_hint")
        if isinstance(hint, str) and len(hint) <= MAX_FIELD and no_control(hint):
            form.identifier.data = hint
        return page("auth/login.html", form=form, **context)

    chosen = form.kind.data or signin.AUTO
    complete = form.validate()
    if form.csrf_token.errors or (chosen != signin.AUTO and chosen not in kinds):  # CSRF token, then the kind
        form.kind.data = None
        return page("auth/login.html", 400, form=form, error=CHOOSE, **context)
    if not complete:
        # An empty field: "Required." at the field, the identifier kept; no source asked, nothing counted.
        return page("auth/login.html", 400, form=form, **context)
    identifier = (form.identifier.data or "").strip()
    kind = signin.auto_kind(identifier, kinds) if chosen == signin.AUTO else chosen
    try:
        done = signin.sign_in(kind, identifier, form.password.data or "", remember=bool(form.remember.data),
                              req=req, pending=pending,
                              link_offer_declined=bool(session.get("link_offer_declined")))
    except signin.Refusal as refusal:
        form.password.data = ""
        return page("auth/login.html", refusal.status, form=form, **context, **refusal_context(refusal, req))
    if isinstance(done, signin.Parked):
        return see_other("mfa.second_step", **({"req": req} if req else {}))
    return after_sign_in(done, req, pending)


def after_sign_in(done: signin.Finished, req: str | None, pending: dict[str, Any] | None) -> Response:
    """Where a finished sign-in goes on: the link offer, the application, or the page the person came from."""
    if done.recovery_codes_left is not None:
        flash(_l("You signed in with a recovery code. You have %(n)d left; make new ones on the two-step "
                 "verification page if you are running out.", n=done.recovery_codes_left), "info")
    if done.offer_link:
        # "continue without linking" goes on to the application.
        args: dict[str, Any] = {"kind": "citizen", "offer": 1, **({"req": req} if req and pending is not None else {})}
        return see_other("linking.link", **args)
    if req and pending is not None:
        return redirect(resume_url(req), 303)  # type: ignore[return-value]
    if req:
        flash(_l("You are signed in, but the application's sign-in request has expired. Go back to the "
                 "application and start again."), "info")
    back = safe_next(session.pop("after_sign_in", None))
    return redirect(back or url_for("auth.home"), 303)  # type: ignore[return-value]
