"""The one interface every identity source (citizen accounts, LDAP directory) implements.

A connector checks a credential and answers with an :class:`Identity` (what it proved), raises
:class:`BadCredentials` (the person cannot sign in, with a machine ``reason``) or
:class:`SourceUnavailable` (the source did not answer: the page says "try again later", HTTP 503).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

# Reasons a sign-in is refused.  "invalid" is the same for an unknown user and a wrong password so
# that the page never reveals which accounts exist.
REASONS = ("invalid", "disabled", "locked", "password_expired", "must_change", "unverified")


@dataclass
class Identity:
    """What a connector proved about the person who signed in."""

    source: str  # "citizen" | "ldap"
    subject: str  # stable upstream id: citizen account public_id, LDAP entryUUID/objectGUID
    acr: str  # an idp.assurance value
    amr: list[str]  # RFC 8176 method references, e.g. ["pwd"]
    attributes: dict[str, Any] = field(default_factory=dict)  # name, email, email_verified, birthdate ...


class BadCredentials(Exception):
    """The credential does not allow a sign-in; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str = "invalid", *, detail: str | None = None, **context: Any) -> None:
        super().__init__(detail or reason)
        self.reason = reason if reason in REASONS else "invalid"
        self.detail = detail  # for the log only, never shown
        self.context = context  # e.g. retry_after=..., subject=... for the page or the audit trail


class SourceUnavailable(Exception):
    """The identity source did not answer (network, timeout, bind failure): the page answers 503."""


class Connector(Protocol):
    """What the sign-in view calls; ``identifier`` is what the person typed (NIK, e-mail, user name)."""

    source: str

    def authenticate(self, identifier: str, password: str) -> Identity:
        """Check the credential: an :class:`Identity`, or raise BadCredentials / SourceUnavailable."""
        ...


def encodable(value: object) -> bool:
    """True for a string that UTF-8 can encode: a lone surrogate cannot be hashed or sent to a directory,
    so a connector refuses it as bad credentials instead of failing in the library."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
