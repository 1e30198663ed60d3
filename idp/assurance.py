"""Authentication context classes (``acr``) and methods (``amr``, RFC 8176) the provider asserts.

Levels are ordered: an application asking for a level (``acr_values``) accepts that level or a
higher one.  The README's "Assurance levels" section documents them for application developers.

Two NIK levels go beyond what a password proves: ``citizen-registry`` (the civil registry confirmed the
typed data belong to the NIK) and ``citizen-in-person`` (an officer checked the KTP-el at a counter).
They rank like ``citizen`` as authentication, and a request for one of them is met only by a person
whose NIK was proved at that level or a higher one (:data:`NIK_LEVELS`): a staff sign-in or a second
factor proves nothing about a NIK, so neither satisfies them on its own.

:data:`WORDS` says every level in words (issue 16: a person never reads a URN): how a session signed in
(``templates/_acr.html``) and what an application's minimum demands (the portal's and the console's
access policy, ``idp/web/portal/forms.py``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from flask_babel import lazy_gettext as _l

PREFIX = "urn:bantenprov:sso:acr:"

# Self-registered citizen whose typed birth date or sex disagrees with the NIK: pending review.
CITIZEN_REVIEW = PREFIX + "citizen-review"
# Self-registered citizen: NIK structurally valid and consistent with the typed data, e-mail verified.
CITIZEN = PREFIX + "citizen"
# Citizen whose typed name, birth date and birth place the population registry (Dukcapil) matched to the NIK.
CITIZEN_REGISTRY = PREFIX + "citizen-registry"
# Citizen whose KTP-el an officer checked at a service counter (Mal Pelayanan Publik).
CITIZEN_IN_PERSON = PREFIX + "citizen-in-person"
# Civil servant authenticated by the province's directory (LDAP / Active Directory).
STAFF = PREFIX + "staff"
# Any of the above plus a second factor (TOTP or passkey).
MFA = PREFIX + "mfa"

LEVELS: dict[str, int] = {CITIZEN_REVIEW: 1, CITIZEN: 2, CITIZEN_REGISTRY: 2, CITIZEN_IN_PERSON: 2, STAFF: 3, MFA: 4}
# How well the NIK itself is proven, lowest first.
NIK_LEVELS: dict[str, int] = {CITIZEN_REVIEW: 1, CITIZEN: 2, CITIZEN_REGISTRY: 3, CITIZEN_IN_PERSON: 4}
# The NIK levels a request must check against the person's proof (not only the sign-in's strength).
_NIK_PROOFS = frozenset({CITIZEN_REGISTRY, CITIZEN_IN_PERSON})
# The ``nik_verification`` claim: how the NIK was proven (README "Assurance levels").
NIK_METHODS: dict[str, str] = {CITIZEN_REVIEW: "self-declared", CITIZEN: "self-declared",
                               CITIZEN_REGISTRY: "registry", CITIZEN_IN_PERSON: "in-person"}



class Words(NamedTuple):
    """A level in words (English message ids, Indonesian in the catalogue)."""

    signed_in: Any  # how a session signed in: "password and two-step verification"
    policy: Any  # an application's minimum: "With a second factor"
    nik: Any = None  # how an account's NIK is proven (a NIK level): "Matched by the population registry"


# Every ``acr`` value the provider issues (the keys are :data:`LEVELS`, tests/account/test_polish.py).
WORDS: dict[str, Words] = {
    CITIZEN_REVIEW: Words(_l("password (data under review)"),
                          _l("Any sign-in, also a citizen whose data are under review"),
                          _l("Self-declared (not verified)")),
    CITIZEN: Words(_l("password"), _l("A verified citizen account or stronger"), _l("Self-declared (not verified)")),
    CITIZEN_REGISTRY: Words(_l("password, NIK confirmed by the population registry"),
                            _l("A NIK confirmed by the population registry, or checked in person"),
                            _l("Matched by the population registry")),
    CITIZEN_IN_PERSON: Words(_l("password, NIK checked in person at a service counter"),
                             _l("A NIK checked in person at a service counter"),
                             _l("Verified in person at a service counter")),
    STAFF: Words(_l("staff directory password"), _l("A staff sign-in or stronger")),
    MFA: Words(_l("password and two-step verification"), _l("With a second factor")),
}

# RFC 8176 method references.
AMR_PASSWORD = "pwd"  # noqa: S105 - an RFC 8176 method name, not a password
AMR_OTP = "otp"
AMR_MFA = "mfa"


def level(acr: str | None) -> int:
    """Rank of an ``acr`` value; unknown values rank 0."""
    return LEVELS.get(acr or "", 0)


def weakest(*acrs: str) -> str:
    """The lowest of several ``acr`` values: what a session proved for *every* credential it carries."""
    return min(acrs, key=level)


def linked(current: tuple[str, list[str]], proved: tuple[str, list[str]]) -> tuple[str, list[str]]:
    """The ``acr`` and ``amr`` of a session after a link: never higher than what was proved in the session
    for every credential it now carries (a password-only proof of the second account caps the level).

    The methods are united, but ``otp``/``mfa`` stay only when every credential was proved with a second
    factor: an application reading ``amr`` must not see MFA for a person whose other half proved a
    password alone (RFC 8176 section 2: the methods used *in this authentication*).
    """
    acr = weakest(current[0], proved[0])
    amr = list(dict.fromkeys([*current[1], *proved[1]]))
    if acr != MFA:
        amr = [m for m in amr if m not in (AMR_OTP, AMR_MFA)]
    return acr, amr


def nik_level(acr: str | None) -> int:
    """Rank of a NIK proof (:data:`NIK_LEVELS`); anything else (no NIK, staff, mfa) ranks 0."""
    return NIK_LEVELS.get(acr or "", 0)


def is_nik_proof(acr: str) -> bool:
    """True for the values that say something about the NIK beyond self-declaration."""
    return acr in _NIK_PROOFS


def satisfies(acr: str | None, requested: list[str], nik: str | None = None) -> bool:
    """True when ``acr`` meets at least one requested value (equal or higher level).

    ``nik`` is the person's current NIK level (an account's ``assurance``); without it the session's
    ``acr`` is taken when it is a NIK level.  A NIK proof is met only by an equal or higher NIK proof.
    """
    if not requested:
        return True
    have = level(acr)
    proof = nik_level(nik if nik is not None else acr)
    return any(have >= LEVELS[r] and (not is_nik_proof(r) or proof >= NIK_LEVELS[r])
               for r in requested if r in LEVELS)


def asserted(acr: str, requested: list[str], nik: str | None = None) -> str:
    """The ``acr`` to put in the tokens of a request with ``acr_values`` the session satisfies.

    The session's own value, unless a requested NIK proof was met that the session's value does not
    name (a person with a second factor and a registry-matched NIK asked for ``citizen-registry``): then
    the first such value in the application's order of preference, the class that was satisfied
    (OpenID Connect Core 3.1.2.1 ``acr_values``, 2 ``acr``).
    """
    if acr in requested:
        return acr
    for r in requested:
        if is_nik_proof(r) and satisfies(acr, [r], nik):
            return r
    return acr
