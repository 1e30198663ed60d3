"""Staff sign-in against the province's directory (OpenLDAP or Active Directory) with ldap3.

The provider never holds staff passwords: a service account searches for the typed user name
(escaped, RFC 4515 section 3), exactly one entry must match, and then the directory itself checks the
password by a bind AS THAT ENTRY on a separate connection; ``who_am_i`` (RFC 4532) must name the same
entry, which defeats the anonymous-bind traps (an empty password or an empty DN binds anonymously on
permissive servers).  The stable identifier is ``entryUUID`` (RFC 4530) or ``objectGUID``, never the
DN, so a moved or renamed entry is still the same person.

Servers form an ldap3 ``ServerPool`` (FIRST strategy, active, exhausted for a while when down), so a
server that does not answer is skipped within the same sign-in.  Service connections are kept bound
in a small thread-safe pool and reopened when they fail.  Every ldap3 exception ends as
:class:`BadCredentials` or :class:`SourceUnavailable`, never as a traceback; the log names the
failing server, never a password.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

with warnings.catch_warnings():
    # ldap3 2.9.1 imports names that pyasn1 0.6 renamed (tagMap -> TAG_MAP): a DeprecationWarning at
    # import time only, which the test suite (filterwarnings = error) would turn into an error.
    warnings.simplefilter("ignore", DeprecationWarning)
    import ldap3
    from ldap3 import SUBTREE, Connection, Server
    from ldap3.core import exceptions as lexc
    from ldap3.utils.conv import escape_filter_chars

from idp import assurance, tracing
from idp.extensions import state
from idp.sources import nik as nik_module
from idp.sources import nip as nip_module
from idp.sources.base import BadCredentials, Identity, SourceUnavailable, encodable
from idp.sources.ldap_connection import (
    _UNAVAILABLE_CODES,
    EXHAUST_SECONDS,
    Entry,
    ServiceConnections,
    T,
    VerifiedTls,
    _close,
    _entries,
)
from idp.sources.ldap_settings import ATTR_KEYS, PRESETS, LdapSettings, normalize_dn, resolve_settings

__all__ = ["ATTR_KEYS", "EXHAUST_SECONDS", "PRESETS", "Entry", "LdapConnector", "LdapSettings", "VerifiedTls",
           "get_connector", "ldap3", "normalize_dn", "resolve_settings"]

log = logging.getLogger(__name__)

PPOLICY_OID = "1.3.6.1.4.1.42.2.27.8.5.1"  # draft-behera-ldap-password-policy request/response control
AD_IN_CHAIN = "1.2.840.113556.1.4.1941"  # LDAP_MATCHING_RULE_IN_CHAIN: transitive group membership
UAC_ACCOUNTDISABLE = 0x2  # userAccountControl bit (MS-ADTS 2.2.16)
PPOLICY_ADMIN_LOCK = "000001010000Z"  # pwdAccountLockedTime: locked until an administrator unlocks
# ppolicy response control error values (draft-behera section 6.2)
PP_EXPIRED, PP_LOCKED, PP_CHANGE_AFTER_RESET = 0, 1, 2
# Active Directory bind failure "data" codes (in the diagnostic message of result 49).
AD_DATA_REASONS = {"532": "password_expired", "773": "must_change", "533": "disabled", "701": "disabled",
                   "775": "locked"}
_AD_DATA = re.compile(r"\bdata ([0-9a-f]{3,4})\b", re.IGNORECASE)
MAX_USERNAME = 256
MAX_PASSWORD = 1024  # longer input is refused before any network call


def _ppolicy_error(result: Mapping[str, Any]) -> int | None:
    """The ``error`` of a ppolicy response control (SEQUENCE { [0] warning OPTIONAL, [1] error OPTIONAL })."""
    control = (result.get("controls") or {}).get(PPOLICY_OID)
    value = control.get("value") if isinstance(control, dict) else None
    if not isinstance(value, bytes | bytearray) or len(value) < 2 or value[0] != 0x30:
        return None
    i, end = 2, 2 + value[1]
    if value[1] & 0x80:  # long-form length: never needed for this small value
        return None
    while i + 2 <= min(end, len(value)):
        tag, length = value[i], value[i + 1]
        if tag == 0x81 and length >= 1:  # [1] IMPLICIT ENUMERATED error
            return int.from_bytes(value[i + 2:i + 2 + length], "big")
        i += 2 + length
    return None


class LdapConnector(ServiceConnections):
    """Authenticates staff against the directory; one instance per app, shared by threads."""

    source = "ldap"

    # --- searches ----------------------------------------------------------------------------------
    def find(self, username: str) -> list[Entry]:
        """Entries matching the typed user name (escaped), at most two (enough to refuse ambiguity)."""
        flt = self.settings.user_filter.replace("{username}", escape_filter_chars(username))
        return self.with_service(lambda c: self._search(c, self.settings.user_base, flt,
                                                        self.settings.fetch_attributes, size_limit=2))

    def groups_of(self, entry: Entry) -> list[str]:
        """Group DNs of ``entry``: the membership attribute, plus nested groups on Active Directory."""
        groups = entry.values(self.settings.attrs["groups"])
        if self.settings.nested_groups:
            flt = f"(member:{AD_IN_CHAIN}:={escape_filter_chars(entry.dn)})"
            nested = self.with_service(lambda c: self._search(c, self.settings.group_base, flt, ["1.1"]))
            groups += [g.dn for g in nested]
        seen: dict[str, str] = {}
        for g in groups:
            seen.setdefault(normalize_dn(g), g)
        return list(seen.values())

    def iter_people(self) -> Iterator[Entry]:
        """Every person (the user filter with ``*``), read page by page (RFC 2696 simple paged results)."""
        yield from self.people(lambda entry: entry)

    def people(self, keep: Callable[[Entry], T]) -> list[T]:
        """``keep(entry)`` for every person, page by page: only what ``keep`` returns is held in memory.

        The sync keeps (subject, DN, state) per entry instead of whole entries, so a directory of a
        hundred thousand staff costs a few megabytes, not every attribute of every entry.
        """

        def read_all(conn: Connection) -> list[T]:
            # All pages on ONE connection (a paged-results cookie is only valid on its connection); when
            # the server fails mid-way, with_service starts the listing again on the next server.
            found: list[T] = []
            cookie: bytes | None = None
            while True:
                ok = conn.search(self.settings.user_base, self.settings.everyone_filter, SUBTREE,
                                 attributes=self.settings.fetch_attributes, paged_size=self.settings.page_size,
                                 paged_cookie=cookie)
                code = conn.result.get("result")
                if not ok and code in _UNAVAILABLE_CODES:
                    raise lexc.LDAPSessionTerminatedByServerError(f"paged search answered {code}")
                if not ok and code != 0:
                    raise SourceUnavailable(f"paged search failed on {conn.server}: {code} "
                                            f"{conn.result.get('description')}")
                found += [keep(entry) for entry in _entries(conn.response, conn.server)]
                control = (conn.result.get("controls") or {}).get("1.2.840.113556.1.4.319") or {}
                cookie = (control.get("value") or {}).get("cookie") or None
                if not cookie:
                    return found

        return self.with_service(read_all)

    # --- the user's own bind -----------------------------------------------------------------------
    def _bind_as(self, first: Server | None, dn: str, password: str) -> tuple[bool, dict[str, Any], str | None]:
        """Bind as ``dn`` on a fresh connection (the server that found it first); (ok, result, whoami)."""
        order = ([first] if first is not None else []) + [s for s in self.servers if s is not first]
        last: Exception | None = None
        for server in order:
            conn = Connection(server, user=dn, password=password, read_only=True, auto_referrals=False,
                              receive_timeout=self.settings.receive_timeout, raise_exceptions=False)
            try:
                conn.open()
                self._secure(conn)
                ok = conn.bind(controls=[(PPOLICY_OID, False, None)])
                result = dict(conn.result)
                who = conn.extend.standard.who_am_i() if ok else None
                if isinstance(who, bytes):
                    who = who.decode("utf-8", "replace")
                if result.get("result") in _UNAVAILABLE_CODES:
                    raise lexc.LDAPSessionTerminatedByServerError(f"bind answered {result.get('result')}")
                return bool(ok), result, who
            except (lexc.LDAPException, OSError) as exc:
                last = exc
                log.warning("LDAP server %s failed during a user bind (%s: %s)", server, type(exc).__name__, exc)
            finally:
                _close(conn)
        raise SourceUnavailable(f"no directory server answered the bind: {type(last).__name__}: {last}")

    def _dummy_bind(self, password: str) -> None:
        """A bind that must fail, so that an unknown user name costs what a wrong password costs."""
        dn = f"cn=idp-no-such-entry-{secrets.token_hex(8)},{self.settings.user_base}"
        ok, _result, _who = self._bind_as(None, dn, password)
        if ok:  # a server that lets a non-existent DN bind is misconfigured; nobody signs in with it
            log.error("LDAP: a bind as a non-existent DN succeeded; check the directory's configuration")

    def _same_entry(self, who: str | None, entry: Entry) -> bool:
        """True when the Who am I? answer (RFC 4532 authzId) names ``entry``."""
        if not who:
            return False  # anonymous
        if who.lower().startswith("dn:"):
            return normalize_dn(who[3:]) == normalize_dn(entry.dn)
        if who.lower().startswith("u:"):  # Active Directory answers u:DOMAIN\sAMAccountName
            name = who[2:].rsplit("\\", 1)[-1].lower()
            candidates = {v.lower() for v in entry.values(self.settings.attrs["username"])}
            candidates |= {v.lower() for v in entry.values("sAMAccountName")}
            candidates |= {v.lower() for v in entry.values("userPrincipalName")}
            return name in candidates or who[2:].lower() in candidates
        return False

    # --- entry state -------------------------------------------------------------------------------
    def state_of(self, entry: Entry) -> str:
        """``active``, ``disabled`` (administrative) or ``locked`` (lockout after failures) from the entry."""
        if self.settings.disabled_attr:
            if any(v.strip().lower() in self.settings.disabled_values
                   for v in entry.values(self.settings.disabled_attr)):
                return "disabled"
        uac = entry.first("userAccountControl")
        if uac and uac.isascii() and uac.lstrip("-").isdigit() and int(uac) & UAC_ACCOUNTDISABLE:
            return "disabled"
        locked = entry.first("pwdAccountLockedTime")
        if locked == PPOLICY_ADMIN_LOCK:
            return "disabled"
        if locked:
            return "locked"
        lockout = entry.first("lockoutTime")
        if lockout and lockout.isascii() and lockout.isdigit() and int(lockout) > 0:
            return "locked"
        return "active"

    def subject_of(self, entry: Entry) -> str | None:
        """The stable identifier: entryUUID as text, objectGUID (binary, little-endian) as a UUID string."""
        name = self.settings.attrs["id"]
        raw = entry.raw.get(name.lower())
        if not raw:
            return None
        value = raw[0]
        if name.lower() == "objectguid" and len(value) == 16:
            return str(uuid.UUID(bytes_le=bytes(value)))
        text = value.decode("utf-8", "replace").strip().lower()
        return text or None

    def attributes_of(self, entry: Entry) -> dict[str, Any]:
        """Claims material of ``entry``: name, email, nip, nik, unit, title, groups, roles, dn, username."""
        a = self.settings.attrs
        raw_nip = entry.first(a["nip"])
        parsed_nip = nip_module.parse(raw_nip) if raw_nip else None
        if raw_nip and not isinstance(parsed_nip, nip_module.Nip):
            log.warning("LDAP entry %s: the NIP attribute %s is not a valid NIP; ignored", entry.dn, a["nip"])
        raw_nik = entry.first(a["nik"])
        parsed_nik = nik_module.parse(raw_nik) if raw_nik else None
        if raw_nik and not isinstance(parsed_nik, nik_module.Nik):
            log.warning("LDAP entry %s: the NIK attribute is not a valid NIK; ignored", entry.dn)  # never the value
        groups = self.groups_of(entry)
        wanted = {normalize_dn(g) for g in groups}
        roles = sorted({role for dn, role in self.settings.group_roles if dn in wanted})
        email = entry.first(a["email"])
        return {
            "username": entry.first(a["username"]),
            "name": entry.first(a["name"]),
            "email": email.lower() if email else None,
            # Directory addresses are issued and controlled by the agency itself.
            "email_verified": bool(email),
            "nip": parsed_nip.value if isinstance(parsed_nip, nip_module.Nip) else None,
            "nik": parsed_nik.value if isinstance(parsed_nik, nik_module.Nik) else None,
            "unit": entry.first(a["unit"]),
            "title": entry.first(a["title"]),
            "groups": groups,
            "roles": roles,
            "dn": entry.dn,
        }

    def identity_of(self, entry: Entry) -> Identity:
        subject = self.subject_of(entry)
        if subject is None:
            log.error("LDAP entry %s has no %s attribute (or the service account cannot read it)", entry.dn,
                      self.settings.attrs["id"])
            raise SourceUnavailable("entry without a stable identifier")
        return Identity(source=self.source, subject=subject, acr=assurance.STAFF, amr=[assurance.AMR_PASSWORD],
                        attributes=self.attributes_of(entry))

    # --- the connector interface -------------------------------------------------------------------
    def authenticate(self, identifier: str, password: str) -> Identity:
        """Search-then-bind; an :class:`Identity`, or BadCredentials / SourceUnavailable."""
        username = identifier.strip() if isinstance(identifier, str) else ""
        # Refused before any network call: an empty password (or DN) is an anonymous bind on many servers.
        if not username or not isinstance(password, str) or not password:
            raise BadCredentials("invalid", detail="empty user name or password")
        if len(username) > MAX_USERNAME or len(password) > MAX_PASSWORD \
                or any(ord(ch) < 32 for ch in username) or "\x00" in password \
                or not encodable(username) or not encodable(password):
            raise BadCredentials("invalid", detail="user name or password out of bounds")
        started = time.monotonic()
        try:
            return self._authenticate(username, password)
        except (BadCredentials, SourceUnavailable):
            raise
        except (lexc.LDAPException, OSError) as exc:  # anything ldap3 raised that the layers above missed
            log.error("LDAP sign-in failed unexpectedly: %s: %s", type(exc).__name__, exc)
            raise SourceUnavailable(str(exc)) from None
        finally:
            log.debug("LDAP sign-in took %.3f s", time.monotonic() - started)

    def _authenticate(self, username: str, password: str) -> Identity:
        # Spans name the operation only: never the user name, the DN or the filter (idp.tracing).
        with tracing.span("ldap.search", **{"db.system": "ldap"}):
            entries = self.find(username)
        if len(entries) != 1:
            if len(entries) > 1:
                log.warning("LDAP: the user filter matched more than one entry; sign-in refused")
            self._dummy_bind(password)
            raise BadCredentials("invalid", detail="no single matching entry")
        entry = entries[0]
        state = self.state_of(entry)
        with tracing.span("ldap.bind", **{"db.system": "ldap", "server.address": getattr(entry.server, "host", None)}):
            ok, result, who = self._bind_as(entry.server, entry.dn, password)
        pp_error = _ppolicy_error(result)
        if ok:
            if not self._same_entry(who, entry):
                log.error("LDAP: bind as %s succeeded but the directory says it is %r; refused", entry.dn, who)
                raise BadCredentials("invalid", detail="whoami mismatch")
            if state == "disabled":
                raise BadCredentials("disabled", detail=entry.dn)
            if pp_error == PP_CHANGE_AFTER_RESET or (entry.first("pwdReset") or "").upper() == "TRUE":
                raise BadCredentials("must_change", detail=entry.dn)
            return self.identity_of(entry)
        code = result.get("result")
        message = str(result.get("message") or "")
        ad = _AD_DATA.search(message) if code == 49 else None
        if ad and ad.group(1).lower() in AD_DATA_REASONS:
            raise BadCredentials(AD_DATA_REASONS[ad.group(1).lower()], detail=entry.dn)
        if pp_error == PP_LOCKED:
            raise BadCredentials("disabled" if state == "disabled" else "locked", detail=entry.dn)
        if pp_error == PP_EXPIRED:
            raise BadCredentials("password_expired", detail=entry.dn)
        if pp_error == PP_CHANGE_AFTER_RESET:
            raise BadCredentials("must_change", detail=entry.dn)
        if code not in (49, 53, 48, 50):  # invalidCredentials, unwillingToPerform, inappropriateAuth, access
            log.warning("LDAP bind as %s answered %s %s", entry.dn, code, result.get("description"))
        raise BadCredentials("invalid", detail=f"bind result {code}")


_connector_lock = threading.Lock()


def get_connector(app: Any = None) -> LdapConnector | None:
    """The app's connector (built once per app), or None when ``IDP_LDAP_URLS`` is empty."""
    app_state = state(app)
    settings = app_state.config["LDAP"]
    if settings is None:
        return None
    with _connector_lock:
        connector = app_state.extra.get("ldap_connector")
        if connector is None:
            connector = app_state.extra["ldap_connector"] = LdapConnector(settings)
    return connector
