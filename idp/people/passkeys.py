"""Passkeys (WebAuthn Level 3): registering them, and using one as a second factor or, for citizens, as a
passwordless sign-in.

The ceremonies' cryptography (CBOR, COSE keys, attestation, signatures) is py_webauthn's
(``webauthn``); this module keeps the state around it.  Each ceremony has a one-time challenge kept in
the store (kind ``webauthn``, five minutes) under a random token that the page's form carries back, bound
to what started it (the session, or the parked first factor, or the sign-in page's browser): a challenge
is taken (used up) before the answer is checked, so a replayed answer finds nothing (WebAuthn 13.4.3).

The relying-party id and the allowed origins come from the issuer (:mod:`idp.config`, validated at
start-up).  User verification is required when registering (so that every passkey can sign in without
a password) and for a passwordless sign-in (WebAuthn 7.2 step 17).  The signature counter must go up
whenever either the stored or the new value is non-zero (7.2 step 22); a counter that does not is
refused and audited as a possible cloned authenticator, and only after the signature was verified (a
stranger cannot raise false alarms).  The backup eligibility flag must not change from registration
(6.1.3); the backup state is stored as the authenticator reports it.  Adding and removing a passkey are
second-factor changes: the person gets a security notice (:mod:`idp.people.notices`).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, parse_authentication_credential_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from idp import assurance, audit
from idp.extensions import db, setting, state
from idp.i18n import PRODUCT_NAME
from idp.models import Passkey, Person, utcnow
from idp.people import notices

CEREMONY_TTL = 300
TIMEOUT_MS = 120_000
MAX_PASSKEYS = 20
MAX_NAME = 64
MAX_RESPONSE = 64 * 1024  # characters of the browser's JSON answer (a credential is a few kilobytes)
RP_NAME = PRODUCT_NAME  # shown by the authenticator in one language: the default one's name (idp.i18n)
AMR_HWK = "hwk"  # RFC 8176: proof of possession of a hardware-secured key
AMR_USER = "user"  # RFC 8176: a user presence test (here: the authenticator verified the user)

REGISTER, SECOND_FACTOR, PASSWORDLESS = "register", "second-factor", "passwordless"


class PasskeyError(Exception):
    """A ceremony that proved nothing.  ``reason``: ``off`` | ``expired`` | ``invalid`` | ``unknown`` |
    ``clone`` | ``duplicate`` | ``limit``; the detail is for the log only."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Used:
    """A verified assertion: whose passkey, which one, and whether the authenticator verified the user."""

    person_id: int
    passkey_id: int
    user_verified: bool

    @property
    def amr(self) -> list[str]:
        """RFC 8176 methods of this proof: ``hwk``, ``user`` when the user was verified."""
        return [AMR_HWK, AMR_USER] if self.user_verified else [AMR_HWK]


# --- settings and queries ----------------------------------------------------------------------------
def enabled() -> bool:
    """Whether passkeys work here (the issuer's host is a domain name, :mod:`idp.config`)."""
    return bool(setting("PASSKEY_RP_ID"))


def has_passkey(person_id: int) -> bool:
    return db.session.execute(select(Passkey.id).where(Passkey.person_id == person_id)).first() is not None


def of(person_id: int) -> list[Passkey]:
    """The person's passkeys, oldest first."""
    return list(db.session.execute(select(Passkey).where(Passkey.person_id == person_id)
                                   .order_by(Passkey.created_at, Passkey.id)).scalars())


def with_passkey(amr: list[str], used: Used) -> list[str]:
    """``amr`` with this passkey proof and ``mfa`` added (RFC 8176)."""
    return list(dict.fromkeys([*amr, *used.amr, assurance.AMR_MFA]))


# --- ceremonies ------------------------------------------------------------------------------------
def _start(purpose: str, binding: str, challenge: bytes, **extra: Any) -> str:
    token = secrets.token_urlsafe(24)
    state().store.put("webauthn", token, {"purpose": purpose, "binding": binding,
                                          "challenge": bytes_to_base64url(challenge), **extra}, CEREMONY_TTL)
    return token


def _take(token: str | None, purpose: str, binding: str) -> dict[str, Any]:
    """The ceremony ``token`` names, used up; :class:`PasskeyError` ``expired`` when it is unknown, spent,
    or was started for another purpose or by another session."""
    if not enabled():
        raise PasskeyError("off")
    if not isinstance(token, str) or not 16 <= len(token) <= 64:
        raise PasskeyError("expired", "no ceremony token")
    value = state().store.take("webauthn", token)
    if not isinstance(value, dict) or value.get("purpose") != purpose or value.get("binding") != binding:
        raise PasskeyError("expired", "unknown, spent or foreign ceremony")
    return value


def _answer(raw: str | None) -> dict[str, Any]:
    """The browser's JSON answer as an object, bounded; ``invalid`` otherwise."""
    if not isinstance(raw, str) or not raw or len(raw) > MAX_RESPONSE:
        raise PasskeyError("invalid", "missing or oversized answer")
    try:
        value = json.loads(raw)
    except ValueError:
        raise PasskeyError("invalid", "answer is not JSON") from None
    if not isinstance(value, dict):
        raise PasskeyError("invalid", "answer is not an object")
    return value


def _user_handle(person_id: int) -> str:
    """The person's WebAuthn user id (base64url): the one of an existing passkey, else a new random one
    (64 random bytes' worth of privacy: never the ``sub`` or the NIK, WebAuthn 14.6.1)."""
    found = db.session.execute(select(Passkey.user_handle).where(Passkey.person_id == person_id)
                               .order_by(Passkey.id)).scalars().first()
    return found or bytes_to_base64url(secrets.token_bytes(32))


def registration_options(person: Person, binding: str) -> tuple[str, str]:
    """Start registering a passkey for ``person``: the ceremony token and the options (JSON) for
    ``navigator.credentials.create``.  Discoverable credential and user verification are required so that
    the passkey can sign in without a password; the person's passkeys are excluded (no duplicates)."""
    if not enabled():
        raise PasskeyError("off")
    handle = _user_handle(person.id)
    label = (person.email or person.name or "akun")[:64]
    options = generate_registration_options(
        rp_id=setting("PASSKEY_RP_ID"), rp_name=RP_NAME, user_id=base64url_to_bytes(handle), user_name=label,
        user_display_name=(person.name or label)[:64], timeout=TIMEOUT_MS,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED, user_verification=UserVerificationRequirement.REQUIRED),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id))
                             for p in of(person.id)])
    token = _start(REGISTER, binding, options.challenge, person_id=person.id, user_handle=handle)
    return token, options_to_json(options)


def register(person: Person, binding: str, token: str | None, raw: str | None, name: str) -> Passkey:
    """Check the browser's answer to :func:`registration_options` and store the passkey; the caller commits."""
    ceremony = _take(token, REGISTER, binding)
    if ceremony.get("person_id") != person.id:
        raise PasskeyError("expired", "ceremony of another person")
    answer = _answer(raw)
    if db.session.execute(select(func.count(Passkey.id)).where(Passkey.person_id == person.id)).scalar_one() \
            >= MAX_PASSKEYS:
        raise PasskeyError("limit")
    try:
        verified = verify_registration_response(
            credential=answer, expected_challenge=base64url_to_bytes(ceremony["challenge"]),
            expected_rp_id=setting("PASSKEY_RP_ID"), expected_origin=setting("PASSKEY_ORIGINS"),
            require_user_verification=True)
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise PasskeyError("invalid", f"registration: {exc}") from None
    credential_id = bytes_to_base64url(verified.credential_id)
    if len(credential_id) > 1400 or db.session.execute(
            select(Passkey.id).where(Passkey.credential_id == credential_id)).first():
        raise PasskeyError("duplicate", "credential already registered")
    row = Passkey(person_id=person.id, credential_id=credential_id, public_key=verified.credential_public_key,
                  user_handle=str(ceremony["user_handle"]), name=(name.strip() or "Passkey")[:MAX_NAME],
                  sign_count=verified.sign_count,
                  backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
                  backed_up=verified.credential_backed_up)
    db.session.add(row)
    db.session.flush()
    audit.record("passkey.registered", person_id=person.id, passkey=row.id, synced=row.backup_eligible)
    notices.notify(person, notices.SECOND_FACTOR)  # a second-factor change, with a "this was not me" link
    return row


def authentication_options(binding: str, person_id: int | None) -> tuple[str, str]:
    """Start using a passkey: for ``person_id``'s second factor (their passkeys listed, user verification
    preferred) or, with None, a passwordless sign-in (discoverable credentials, user verification required)."""
    if not enabled():
        raise PasskeyError("off")
    if person_id is None:
        options = generate_authentication_options(rp_id=setting("PASSKEY_RP_ID"), timeout=TIMEOUT_MS,
                                                  user_verification=UserVerificationRequirement.REQUIRED)
        return _start(PASSWORDLESS, binding, options.challenge), options_to_json(options)
    options = generate_authentication_options(
        rp_id=setting("PASSKEY_RP_ID"), timeout=TIMEOUT_MS, user_verification=UserVerificationRequirement.PREFERRED,
        allow_credentials=[PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id))
                           for p in of(person_id)])
    return _start(SECOND_FACTOR, binding, options.challenge, person_id=person_id), options_to_json(options)


def authenticate(binding: str, token: str | None, raw: str | None, person_id: int | None) -> Used:
    """Check the browser's answer to :func:`authentication_options` (same ``person_id``) and record the use.

    Commits the new counter on success; raises :class:`PasskeyError` otherwise (a suspected clone is
    audited and committed first)."""
    ceremony = _take(token, SECOND_FACTOR if person_id is not None else PASSWORDLESS, binding)
    if person_id is not None and ceremony.get("person_id") != person_id:
        raise PasskeyError("expired", "ceremony of another person")
    answer = _answer(raw)
    try:
        parsed = parse_authentication_credential_json(answer)
    except (WebAuthnException, ValueError, TypeError) as exc:
        raise PasskeyError("invalid", f"assertion: {exc}") from None
    row = db.session.execute(select(Passkey).where(
        Passkey.credential_id == bytes_to_base64url(parsed.raw_id))).scalar_one_or_none()
    if row is None or (person_id is not None and row.person_id != person_id):
        raise PasskeyError("unknown", "no such credential (for this person)")
    handle = parsed.response.user_handle
    if person_id is None and (handle is None or bytes_to_base64url(handle) != row.user_handle):
        # WebAuthn 7.2 step 6: a discoverable credential's userHandle must be its owner's.
        raise PasskeyError("unknown", "user handle does not match the credential")
    try:
        # The counter is compared below (a regression is audited as a clone, after the signature check).
        verified = verify_authentication_response(
            credential=parsed, expected_challenge=base64url_to_bytes(ceremony["challenge"]),
            expected_rp_id=setting("PASSKEY_RP_ID"), expected_origin=setting("PASSKEY_ORIGINS"),
            credential_public_key=row.public_key, credential_current_sign_count=0,
            require_user_verification=person_id is None)
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise PasskeyError("invalid", f"assertion: {exc}") from None
    new, old = verified.new_sign_count, row.sign_count
    if (new or old) and new <= old:
        # WebAuthn 7.2 step 22: a signal that the authenticator may be cloned; refused.
        audit.record("passkey.clone_suspected", outcome="failure", person_id=row.person_id, passkey=row.id,
                     stored=old, presented=new, commit=True)
        raise PasskeyError("clone", f"sign count {new} <= {old}")
    eligible = verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE
    if eligible != row.backup_eligible:
        raise PasskeyError("invalid", "backup eligibility changed since registration")
    # Compare-and-set on the counter: two answers racing with the same counter cannot both win.
    won = db.session.execute(
        update(Passkey).where(Passkey.id == row.id, Passkey.sign_count == old)
        .values(sign_count=new, backed_up=verified.credential_backed_up, last_used_at=utcnow())
        .execution_options(synchronize_session=False))
    if getattr(won, "rowcount", 0) != 1:
        db.session.rollback()
        raise PasskeyError("clone", "counter changed meanwhile")
    db.session.commit()
    return Used(person_id=row.person_id, passkey_id=row.id, user_verified=verified.user_verified)


def remove(person_id: int, passkey_id: int) -> bool:
    """Remove one of the person's passkeys; False when it is not theirs.  The caller commits."""
    row = db.session.get(Passkey, passkey_id)
    if row is None or row.person_id != person_id:
        return False
    db.session.delete(row)
    audit.record("passkey.removed", person_id=person_id, passkey=passkey_id)
    person = db.session.get(Person, person_id)
    if person is not None:
        notices.notify(person, notices.SECOND_FACTOR)  # a second-factor change, with a "this was not me" link
    return True
