"""Scopes and the claims they release (OpenID Connect Core 5.4), read from the person's record.

``nik`` and ``staff`` are sensitive (``IDP_SENSITIVE_SCOPES``): they are released only when the client
is approved for them by an operator (``Client.approved_scopes``) AND the person consented to them
(``Consent``); both are checked again every time the claims are read, so withdrawing either stops the
release at once.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, select
from sqlalchemy.orm.util import identity_key

from idp import assurance, sources
from idp.extensions import db, state
from idp.models import CitizenAccount, Client, Consent, Person
from idp.people.staff import staff_claims

# The standard scopes (OIDC Core 5.4), then the ones the identity sources contribute (idp.sources.registry:
# citizen accounts ``nik``, the staff directory ``staff``), then offline_access (OIDC Core 11).
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "openid": ("sub",),
    "profile": ("name", "birthdate", "gender", "locale", "updated_at"),
    "email": ("email", "email_verified"),
    "phone": ("phone_number", "phone_number_verified"),
    **{name: scope.claims for name, scope in sources.scopes().items()},
    "offline_access": (),
}

# What the consent page says for each scope, in plain words.
SCOPE_TEXT: dict[str, Any] = {
    "openid": _l("Know who you are when you sign in"),
    "profile": _l("Your name, date of birth, gender and language"),
    "email": _l("Your e-mail address"),
    "phone": _l("Your mobile number"),
    **{name: scope.text for name, scope in sources.scopes().items()},
    "offline_access": _l("Stay connected to your account when you are not using the application"),
}
# Scopes that release claims beyond ``sub``.
_CLAIM_SCOPES = frozenset(name for name, claims in SCOPE_CLAIMS.items() if claims and name != "openid")

BASE_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "at_hash", "azp")


def scopes_supported() -> list[str]:
    return list(SCOPE_CLAIMS)


def claims_supported() -> list[str]:
    names = list(BASE_CLAIMS)
    for claims in SCOPE_CLAIMS.values():
        names.extend(c for c in claims if c not in names)
    return names


def sensitive_scopes() -> set[str]:
    return set(state().config["SENSITIVE_SCOPES"])


# What the claims read of a person: a row of these columns answers like the entity (userinfo reads it
# without building an ORM object, about a third of a userinfo request's CPU; bench/FINDINGS.md).
_CLAIM_COLUMNS = (Person.id, Person.status, Person.name, Person.email, Person.email_verified, Person.phone_number,
                  Person.birthdate, Person.gender, Person.locale, Person.updated_at)
# Built once: SQLAlchemy memoises a statement's cache key on the object, so a module-level statement skips
# both building the SELECT and computing its key on every userinfo request.
_CLAIM_ROW = select(*_CLAIM_COLUMNS).where(Person.id == bindparam("person_id"))


def _person_facts(person_id: int) -> Any:
    """The person as the claims need it: the entity when this request already holds it (the token
    endpoint's grant loaded it: no statement at all), else one row of :data:`_CLAIM_COLUMNS`."""
    held = db.session.identity_map.get(identity_key(Person, person_id))
    if held is not None:
        return held
    return db.session.execute(_CLAIM_ROW, {"person_id": person_id}).first()


def _profile_claims(person: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if person.name:
        out["name"] = person.name
    if person.birthdate:
        out["birthdate"] = person.birthdate.isoformat()
    if person.gender:
        out["gender"] = person.gender
    if person.locale:
        out["locale"] = person.locale
    if person.updated_at:
        out["updated_at"] = int(person.updated_at.timestamp())
    return out


def released_sensitive(person_id: int, client_id: str, wanted: set[str]) -> set[str]:
    """Of the sensitive scopes ``wanted``, those the client is still approved for and the person consented to."""
    row = db.session.execute(
        select(Client.approved_scopes, Consent.scopes)
        .join(Consent, (Consent.client_id == Client.id) & (Consent.person_id == person_id))
        .where(Client.client_id == client_id, Client.disabled.is_(False))
    ).first()
    if row is None:
        return set()
    approved, consented = row
    return wanted & set((approved or "").split()) & set((consented or "").split())


def nik_released(person_id: int, client_id: str) -> bool:
    """True when the client is still approved for ``nik`` and the person's consent still covers it."""
    return bool(released_sensitive(person_id, client_id, {"nik"}))


def claims_for(person_id: int, sub: str, scope: str, client_id: str, *, with_nik: bool = True) -> dict[str, Any]:
    """Claims for the scopes of a token: ``sub`` always, then per scope.

    ``with_nik=False`` keeps the NIK out (ID tokens: they travel through more hands than userinfo).
    """
    scopes = set((scope or "").split())
    claims: dict[str, Any] = {"sub": sub}
    if not with_nik:
        scopes.discard("nik")
    if not scopes & _CLAIM_SCOPES:
        return claims
    person = _person_facts(person_id)
    if person is None or person.status != "active":
        return claims
    if "profile" in scopes:
        claims.update(_profile_claims(person))
    if "email" in scopes and person.email:
        claims["email"] = person.email
        claims["email_verified"] = bool(person.email_verified)
    if "phone" in scopes and person.phone_number:
        # Only numbers proved by a code are stored (idp.people.phone), in E.164 as OIDC Core 5.1 asks.
        claims["phone_number"] = person.phone_number
        claims["phone_number_verified"] = True
    wanted = scopes & (sensitive_scopes() | {"nik"})  # the NIK needs approval whatever the settings say
    released = released_sensitive(person_id, client_id, wanted) if wanted else set()
    if "staff" in scopes and ("staff" in released or "staff" not in wanted):

        claims.update(staff_claims(person))
    if "nik" in scopes and ("nik" in released or "nik" not in wanted):
        account = db.session.execute(
            select(CitizenAccount).where(CitizenAccount.person_id == person_id)
        ).scalar_one_or_none()
        if account is not None and account.nik_hash is not None:  # held, not only claimed
            claims["nik"] = state().crypto.decrypt(account.nik_enc, "citizen.nik")
            # How well the NIK is proven (README "Assurance levels"): an application granting benefits on
            # the strength of a NIK reads these, or asks for the level with acr_values.
            method = assurance.NIK_METHODS.get(account.assurance, "self-declared")
            claims["nik_verified"] = method != "self-declared"
            claims["nik_verification"] = method
    return claims
