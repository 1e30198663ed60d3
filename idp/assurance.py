"""Authentication context classes (``acr``) and methods (``amr``, RFC 8176) the provider asserts.

Levels are ordered: an application asking for a level (``acr_values``) accepts that level or a
higher one.  The README's "Assurance levels" section documents them for application developers.
"""

from __future__ import annotations

PREFIX = "urn:bantenprov:sso:acr:"

# Self-registered citizen whose typed birth date or sex disagrees with the NIK: pending review.
CITIZEN_REVIEW = PREFIX + "citizen-review"
# Self-registered citizen: NIK structurally valid and consistent with the typed data, e-mail verified.
CITIZEN = PREFIX + "citizen"
# Civil servant authenticated by the province's directory (LDAP / Active Directory).
STAFF = PREFIX + "staff"
# Any of the above plus a second factor (TOTP or passkey).
MFA = PREFIX + "mfa"

LEVELS: dict[str, int] = {CITIZEN_REVIEW: 1, CITIZEN: 2, STAFF: 3, MFA: 4}

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


def satisfies(acr: str | None, requested: list[str]) -> bool:
    """True when ``acr`` meets at least one requested value (equal or higher level)."""
    if not requested:
        return True
    have = level(acr)
    return any(have >= LEVELS[r] for r in requested if r in LEVELS)
