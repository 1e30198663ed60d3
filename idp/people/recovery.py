"""Forgotten password: a citizen proves a confirmed address (and the second factor) and sets a new password.

The steps, each a page of :mod:`idp.web.auth.recovery`:

1. :func:`start`: the person types a NIK, an e-mail address or a verified mobile number (the code then
   goes by SMS, :mod:`idp.sms`).  Whatever was typed, a *flow* is opened
   (a random id in the browser's cookie session, its record in the store for ``RECOVERY_CODE_TTL``) and
   the answer is the same page; only when a active account with a confirmed address matches is a code
   mailed, from a thread, so that the answer takes as long for an unknown account as for a known one
   (no enumeration by answer or timing).  At most :data:`SENDS_PER_HOUR` codes per account and hour,
   ``RECOVERY_REQUESTS_PER_IP`` requests per address and hour.
2. :func:`check_code`: the 8-digit code.  It is kept only as a keyed hash bound to the flow (a code of
   another flow, or of another account, never matches), at most ``RECOVERY_MAX_TRIES`` wrong codes
   per flow (then the flow is gone), and it works once.
3. :func:`check_second_factor` / :func:`check_passkey`: when the person has a second factor of any kind
   (an authenticator app, a passkey, or both: :func:`idp.people.mfa.has_second_factor`), a proof of it
   too (the rule that every proof of a credential honours the second factor): a current authenticator
   code, one of the person's recovery codes, or the person's passkey (a WebAuthn assertion bound to the
   flow).  The mailed (or texted) code alone never sets a password for such a person; one who has lost
   every factor and has no recovery code left is sent to the help desk.  Failures count on the sign-in's
   code counters, so the reset is no side door for guessing codes.
4. :func:`set_password`: the new password.  Every session of the person ends (back-channel logout
   notices, ``idp.people.signout``), every refresh token family is revoked (offline access included:
   someone else may have had the old password), the sign-in locks of the account are lifted, the
   person is mailed a notice.

The flow record says which step is next; a step's page refuses a flow that is not at that step, so no
step can be skipped by posting to a later page.  Staff passwords belong to the directory: the page
points staff to their agency's process (``STAFF_PASSWORD_RESET_URL``).
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from flask import current_app, request, session
from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l

from idp import audit, events, mail, passwords, ratelimit, sms
from idp.extensions import db, setting, state
from idp.models import CitizenAccount, utcnow
from idp.people import mfa, notices, passkeys, signin, signout
from idp.people import session as login_session
from idp.sources import citizen, nik
from idp.store import StoreUnavailable

log = logging.getLogger(__name__)

KIND = "pw-reset"
TRIES = "pw-reset-tries"
FLOW_KEY = "recovery_flow"  # the cookie session's entry naming this browser's flow
CODE_DIGITS = 8
SENDS_PER_HOUR = 3

CODE, SECOND, PASSWORD = "code", "second", "password"  # the step a flow waits for


class RecoveryError(Exception):
    """A step refused; ``message`` is the public text, ``status`` the HTTP status of the page."""

    def __init__(self, message: Any, status: int = 400, *, restart: bool = False) -> None:
        super().__init__(str(message))
        self.message = message
        self.status = status
        self.restart = restart  # the flow is gone: the person must ask for a new code


@dataclass(frozen=True)
class Flow:
    """One browser's forgotten-password request: its id, the step it waits for, where to go afterwards."""

    flow_id: str
    step: str
    req: str | None
    record: dict[str, Any]


def _ttl() -> int:
    return int(setting("RECOVERY_CODE_TTL"))


def _code_hash(flow_id: str, code: str) -> str:
    """The code bound to its flow: a code is worth nothing in another flow (another account's)."""
    return str(state().crypto.keyed_hash("recovery-code", f"{flow_id}:{code}"))


def identifier_kind(identifier: str) -> str | None:
    """``"citizen"`` for what a citizen types (a NIK or an e-mail address), None for anything else
    (a staff user name: the page points to the directory's process)."""
    value = (identifier or "").strip()
    if not value or len(value) > citizen.MAX_IDENTIFIER:
        return None
    if nik.looks_like_nik(value) or "@" in value:
        return "citizen"
    return "phone" if sms.normalize_mobile(value) is not None else None


def start(identifier: str, req: str | None) -> Flow:
    """Open a flow for ``identifier`` and mail a code when a usable account matches (see the module doc).

    Raises :class:`RecoveryError` (429) past the per-address limit, the same for every identifier.
    """
    ip = request.remote_addr or "-"
    if not ratelimit.allow("recovery-ip", ip, int(setting("RECOVERY_REQUESTS_PER_IP")), 3600):
        raise RecoveryError(_l("Too many requests from your network. Please try again in an hour."), 429)
    if not ratelimit.allow("recovery-all", "all", int(setting("RECOVERY_REQUESTS_PER_HOUR")), 3600):
        raise RecoveryError(_l("Too many requests right now. Please try again later."), 429)
    typed, account = citizen.find_by_identifier(identifier.strip())
    by_phone = identifier_kind(identifier) == "phone"
    if account is not None and not by_phone and account.email_verified_at is None and account.person.phone_number:
        typed, by_phone = account.person.phone_number, True  # a phone-only account: its number is the channel
    # The code goes to the channel typed: a verified mobile number (found only if verified), else the
    # confirmed e-mail address.
    usable = account is not None and account.status == "active" and (by_phone or account.email_verified_at is not None)
    flow_id = secrets.token_urlsafe(24)
    code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
    person_id = account.person_id if usable and account is not None else None
    record = {"step": CODE, "code": _code_hash(flow_id, code), "req": req,
              "account": account.public_id if usable and account is not None else None, "person": person_id}
    store = state().store
    store.put(KIND, flow_id, record, _ttl())
    session[FLOW_KEY] = flow_id
    # Rendered whoever asked (the same work); sent only to a real, confirmed address.
    subject, body = mail.render("auth/mail/recovery_code.txt", name=account.full_name if account else "",
                                code=code, minutes=_ttl() // 60)
    # The counter is touched for unknown accounts too (a key of their own): the same store work.
    within = ratelimit.allow("recovery-send", str(record["account"] or flow_id), SENDS_PER_HOUR, 3600)
    send = usable and within
    audit.record("password.reset_requested", person_id=person_id, sent=bool(send), commit=True)
    if send and account is not None and by_phone and typed:
        _sms_later(typed, code, request.remote_addr)
    elif send and account is not None and account.email:
        _send_later(account.email, subject, body, "recovery_code")
    return Flow(flow_id, CODE, req, record)


def _send_later(to: str, subject: str, body: str, kind: str) -> None:
    """Send from a thread: the page answers as fast for a real account as for an unknown one."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def run() -> None:
        with app.app_context():
            try:
                mail.send(to, subject, body, kind=kind)
            except mail.MailError:
                log.warning("could not send the %s mail", kind)

    threading.Thread(target=run, name=f"idp-{kind}", daemon=True).start()


def _sms_later(number: str, code: str, ip: str | None) -> None:
    """The code by SMS, from a thread (the same timing as an unknown number); the cost guards apply."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    texts = []
    for lang in mail.LANGUAGES:  # Indonesian first
        with force_locale(lang):
            texts.append(gettext("Banten SSO password reset code: %(code)s. Valid for %(minutes)d minutes. Never "
                                 "tell it to anybody.", code=code, minutes=_ttl() // 60))
    text = " / ".join(dict.fromkeys(texts))

    def run() -> None:
        with app.app_context():
            try:
                sms.send(number, text, kind="recovery_code", ip=ip)
            except sms.SmsError as exc:
                log.warning("could not send the recovery code by SMS: %s", exc)
            except StoreUnavailable:  # the SMS limits could not be counted: nothing was sent
                log.warning("could not send the recovery code by SMS: the store is unavailable")

    threading.Thread(target=run, name="idp-recovery-sms", daemon=True).start()


def current(step: str | None = None) -> Flow:
    """This browser's flow (at ``step``, when given); :class:`RecoveryError` when there is none (expired,
    used, too many wrong codes) or it waits for another step."""
    flow_id = session.get(FLOW_KEY)
    record = state().store.get(KIND, flow_id) if isinstance(flow_id, str) and len(flow_id) <= 64 else None
    if not isinstance(flow_id, str) or not isinstance(record, dict):
        raise RecoveryError(_l("This request has expired or was already used. Please ask for a new code."),
                            400, restart=True)
    flow = Flow(flow_id, str(record.get("step")), record.get("req"), record)
    if step is not None and flow.step != step:
        raise RecoveryError(_l("Please complete the steps in order."), 409)
    return flow


def _advance(flow: Flow, **changes: Any) -> Flow:
    record = {**flow.record, **changes}
    state().store.put(KIND, flow.flow_id, record, max(1, state().store.ttl(KIND, flow.flow_id) or _ttl()))
    return Flow(flow.flow_id, str(record["step"]), flow.req, record)


def drop(flow_id: str) -> None:
    """End a flow (done, or too many wrong codes)."""
    state().store.delete(KIND, flow_id)
    state().store.delete(TRIES, flow_id)
    if session.get(FLOW_KEY) == flow_id:
        session.pop(FLOW_KEY, None)


def check_code(code: str) -> Flow:
    """Step 2: the mailed code; the flow at its next step (:data:`SECOND` or :data:`PASSWORD`)."""
    flow = current(CODE)
    typed = "".join(ch for ch in (code or "") if not ch.isspace())[:32]
    tries = state().store.incr(TRIES, flow.flow_id, _ttl())
    limit = int(setting("RECOVERY_MAX_TRIES"))
    good = (flow.record.get("account") is not None and bool(flow.record.get("code"))
            and hmac.compare_digest(_code_hash(flow.flow_id, typed), str(flow.record.get("code"))))
    if not good or tries > limit:
        audit.record("password.reset_code", outcome="failure", person_id=flow.record.get("person"), commit=True)
        if tries >= limit:
            drop(flow.flow_id)
            raise RecoveryError(_l("Too many wrong codes. Please ask for a new code."), 429, restart=True)
        raise RecoveryError(_l("This code is not right. Check the newest e-mail we sent and try again."), 401)
    person_id = int(flow.record["person"])
    # Any second factor (an authenticator app or a passkey) must be proved too: never the code alone.
    step = SECOND if mfa.has_second_factor(person_id) else PASSWORD
    return _advance(flow, step=step, code=None)  # the code is used up


@dataclass(frozen=True)
class SecondFactors:
    """What the person of a flow at :data:`SECOND` can prove: the page offers exactly these."""

    totp: bool
    passkey: bool  # has a passkey, and passkeys work here
    recovery_codes: int  # unused recovery codes left

    @property
    def none_usable(self) -> bool:
        """Nothing left to prove the second factor with: only the help desk can help."""
        return not (self.totp or self.passkey or self.recovery_codes)


def second_factors(flow: Flow) -> SecondFactors:
    person_id = int(flow.record["person"])
    return SecondFactors(totp=mfa.has_totp(person_id),
                         passkey=passkeys.enabled() and passkeys.has_passkey(person_id),
                         recovery_codes=mfa.recovery_codes_left(person_id))


def _second_factor_key(person_id: int) -> str:
    return ratelimit.identifier_key(f"mfa:{person_id}")  # the sign-in code page's counters


def _second_factor_failed(flow: Flow, person_id: int, locked: int, method: str) -> RecoveryError:
    started = locked or ratelimit.record_failure(_second_factor_key(person_id), request.remote_addr)
    audit.record("password.reset_second_factor", outcome="failure", person_id=person_id, method=method,
                 commit=True)
    if started:
        drop(flow.flow_id)
        return RecoveryError(_l("Too many wrong codes. Please try again later."), 429, restart=True)
    if method == "passkey":
        return RecoveryError(_l("The passkey was not accepted. Please try again, or type one of your recovery "
                                "codes."), 401)
    return RecoveryError(_l("This code is not right. Use the current code of your authenticator app or "
                            "one of your recovery codes."), 401)


def check_second_factor(code: str) -> Flow:
    """Step 3 (a second factor on the account): a current authenticator code or a recovery code."""
    flow = current(SECOND)
    person_id = int(flow.record["person"])
    key = _second_factor_key(person_id)
    locked = ratelimit.locked_for(key, request.remote_addr)
    method = None if locked else mfa.verify(person_id, code)
    if method is None:
        raise _second_factor_failed(flow, person_id, locked, "code")
    ratelimit.record_success(key)
    return _advance(flow, step=PASSWORD, second=method)


def _passkey_binding(flow: Flow) -> str:
    return "recovery:" + flow.flow_id


def passkey_options() -> tuple[str, str]:
    """Step 3 with a passkey: start the ceremony for the flow's person (bound to this flow).  Returns the
    ceremony token and the WebAuthn options (JSON); :class:`RecoveryError` or
    :class:`idp.people.passkeys.PasskeyError` otherwise."""
    flow = current(SECOND)
    person_id = int(flow.record["person"])
    if not passkeys.has_passkey(person_id):
        raise passkeys.PasskeyError("off", "no passkey on this account")
    return passkeys.authentication_options(_passkey_binding(flow), person_id)


def check_passkey(ceremony: str | None, answer: str | None) -> Flow:
    """Step 3 with a passkey: the browser's answer to :func:`passkey_options` for the flow's person (another
    person's passkey, a replayed or foreign ceremony prove nothing); the same counters as a wrong code."""
    flow = current(SECOND)
    person_id = int(flow.record["person"])
    key = _second_factor_key(person_id)
    locked = ratelimit.locked_for(key, request.remote_addr)
    used = None
    if not locked:
        try:
            used = passkeys.authenticate(_passkey_binding(flow), ceremony, answer, person_id)
        except passkeys.PasskeyError as exc:
            log.info("passkey refused in a password reset: %s (%s)", exc.reason, exc.detail)
    if used is None:
        raise _second_factor_failed(flow, person_id, locked, "passkey")
    ratelimit.record_success(key)
    return _advance(flow, step=PASSWORD, second="passkey")


def password_problems(flow: Flow, new_password: str) -> list[str]:
    """What is wrong with ``new_password`` for the flow's account (the registration's rules)."""
    account = _account(flow)
    if account is None:
        return []
    found = passwords.problems(new_password, nik=citizen.decrypt_nik(account), email=account.email or "",
                               name=account.full_name or "")
    return [str(p) for p in found]


def _account(flow: Flow) -> CitizenAccount | None:
    account = citizen.find_by_public_id(str(flow.record.get("account") or ""))
    if account is None or account.status != "active" or account.person.status != "active":
        return None
    return account


def set_password(new_password: str) -> Flow:
    """Step 4: store the new password, end every session, revoke every token, mail a notice.  Commits."""
    flow = current(PASSWORD)
    if state().store.take(KIND, flow.flow_id) is None:  # single use, also against a parallel request
        raise RecoveryError(_l("This request has expired or was already used. Please ask for a new code."),
                            400, restart=True)
    drop(flow.flow_id)
    account = _account(flow)
    if account is None:
        raise RecoveryError(_l("This account cannot be used right now. Please contact the help desk."), 403,
                            restart=True)
    person = account.person
    account.password_hash = passwords.hash(new_password)
    account.password_changed_at = utcnow()
    ended = login_session.end_all(person.id)
    # Whoever knew the old password may hold tokens of sessions that ended long ago, offline access too.
    signout.sessions_ended(ended, reason="password_reset", keep_offline=False)
    events.emit(events.PERSON_TOKENS_REVOKED, person_id=person.id, reason="password_reset")
    audit.record("password.reset", person_id=person.id, sessions_ended=len(ended),
                 second_factor=flow.record.get("second"))
    db.session.commit()
    ratelimit.lift(signin.citizen_limit_keys(account))  # the owner may sign in at once
    notices.notify(person, notices.PASSWORD)  # with a "this was not me" link (mail, or SMS for phone-only)
    db.session.commit()
    return flow

