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

import datetime as dt
import logging
import re
import secrets
import ssl
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

with warnings.catch_warnings():
    # ldap3 2.9.1 imports names that pyasn1 0.6 renamed (tagMap -> TAG_MAP): a DeprecationWarning at
    # import time only, which the test suite (filterwarnings = error) would turn into an error.
    warnings.simplefilter("ignore", DeprecationWarning)
    import ldap3
    from ldap3 import FIRST, NONE, SUBTREE, Connection, Server, ServerPool, Tls
    from ldap3.core import exceptions as lexc
    from ldap3.utils.conv import escape_filter_chars
    from ldap3.utils.dn import parse_dn

from idp import assurance
from idp.config import ConfigError
from idp.extensions import state
from idp.sources.base import BadCredentials, Identity, SourceUnavailable

log = logging.getLogger(__name__)

# ldap3 sleeps POOLING_LOOP_TIMEOUT (10 s) after a pool cycle in which no server answered before it
# gives up; a sign-in must fail fast instead (the page says "try again later").
ldap3.set_config_parameter("POOLING_LOOP_TIMEOUT", 0)

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
# Servers that failed are skipped by every connection for this long (ldap3 "exhaust").
EXHAUST_SECONDS = 30
MAX_USERNAME = 256
MAX_PASSWORD = 1024  # longer input is refused before any network call
# Result codes that mean "the server cannot serve now" rather than "no such person".
_UNAVAILABLE_CODES = {51, 52, 80}  # busy, unavailable, other

PRESETS: dict[str, dict[str, str]] = {
    "openldap": {
        "id": "entryUUID", "username": "uid", "name": "cn", "email": "mail", "nip": "employeeNumber",
        "nik": "nik", "unit": "ou", "title": "title", "groups": "memberOf",
        "filter": "(&(objectClass=inetOrgPerson)(uid={username}))",
    },
    "activedirectory": {
        "id": "objectGUID", "username": "sAMAccountName", "name": "displayName", "email": "mail",
        "nip": "employeeID", "nik": "nik", "unit": "department", "title": "title", "groups": "memberOf",
        "filter": "(&(objectCategory=person)(objectClass=user)(sAMAccountName={username}))",
    },
}
ATTR_KEYS = ("id", "username", "name", "email", "nip", "nik", "unit", "title", "groups")
_ROLE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def normalize_dn(dn: str) -> str:
    """A DN in a comparable form: attribute types and values lower-cased, no spaces around separators."""
    try:
        parts = parse_dn(dn, escape=False, strip=True)
    except (lexc.LDAPInvalidDnError, ValueError, IndexError, TypeError):
        return dn.strip().lower()
    return ",".join(f"{attr.strip().lower()}={value.strip().lower()}" for attr, value, _sep in parts)


@dataclass(frozen=True)
class LdapSettings:
    """The directory settings with the preset applied and validated (``cfg["LDAP"]``)."""

    urls: tuple[str, ...]
    preset: str
    start_tls: bool
    ca_file: str
    allow_plaintext: bool
    bind_dn: str
    bind_password: str = field(repr=False)
    user_base: str = ""
    user_filter: str = ""
    group_base: str = ""
    nested_groups: bool = False
    connect_timeout: int = 3
    receive_timeout: int = 5
    pool_size: int = 4
    attrs: Mapping[str, str] = field(default_factory=dict)
    disabled_attr: str = ""
    disabled_values: frozenset[str] = frozenset()
    group_roles: tuple[tuple[str, str], ...] = ()
    page_size: int = 500

    @property
    def everyone_filter(self) -> str:
        """The user filter matching every person (``{username}`` -> ``*``): the sync's search."""
        return self.user_filter.replace("{username}", "*")

    @property
    def fetch_attributes(self) -> list[str]:
        """Attributes read for a person (mapped ones, lock and disable markers)."""
        names = [self.attrs[k] for k in ATTR_KEYS if self.attrs.get(k)]
        names += ["pwdAccountLockedTime", "pwdReset"] if self.preset == "openldap" else \
            ["userAccountControl", "lockoutTime"]
        if self.disabled_attr:
            names.append(self.disabled_attr)
        return list(dict.fromkeys(names))


def _check_filter(text: str) -> None:
    depth = 0
    for ch in text.replace("\\(", "").replace("\\)", ""):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            break
    if not text.startswith("(") or depth != 0 or "{username}" not in text:
        raise ConfigError("IDP_LDAP_USER_FILTER: must be a parenthesized LDAP filter (RFC 4515) containing "
                          f"{{username}} (got {text!r})")


def parse_group_roles(raw: str) -> tuple[tuple[str, str], ...]:
    """``dn=role;dn=role`` -> ((normalized dn, role), ...); the role is after the LAST ``=``."""
    pairs: list[tuple[str, str]] = []
    for item in raw.split(";"):
        item = item.strip()
        if not item:
            continue
        dn, sep, role = item.rpartition("=")
        role = role.strip()
        if not sep or not dn.strip() or not _ROLE.match(role):
            raise ConfigError(f"IDP_LDAP_GROUP_ROLES: items are `group DN=role` (role: letters, digits, _.:-); "
                              f"got {item!r}")
        try:
            parse_dn(dn.strip(), strip=True)
        except (lexc.LDAPInvalidDnError, ValueError, IndexError, TypeError):
            raise ConfigError(f"IDP_LDAP_GROUP_ROLES: {dn.strip()!r} is not a DN") from None
        pairs.append((normalize_dn(dn), role))
    return tuple(pairs)


def resolve_settings(values: Mapping[str, Any]) -> LdapSettings:
    """Apply the preset to the ``LDAP_*`` settings and validate them (raises :class:`ConfigError`)."""
    preset = PRESETS[values["LDAP_PRESET"]]
    urls = tuple(values["LDAP_URLS"])
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in {"ldap", "ldaps"} or not parts.hostname or parts.path not in {"", "/"} \
                or parts.query or parts.username or parts.password:
            raise ConfigError(f"IDP_LDAP_URLS: {url!r} is not an ldap:// or ldaps:// server URL")
        try:
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            raise ConfigError(f"IDP_LDAP_URLS: {url!r} has an invalid port") from None
        if parts.scheme == "ldap" and not values["LDAP_START_TLS"]:
            if not values["LDAP_ALLOW_PLAINTEXT"]:
                raise ConfigError(f"IDP_LDAP_URLS: {url!r} would send passwords in clear; use ldaps://, "
                                  "IDP_LDAP_START_TLS=true, or (development only) IDP_LDAP_ALLOW_PLAINTEXT=true")
            log.warning("INSECURE: IDP_LDAP_ALLOW_PLAINTEXT is on: staff passwords cross the network to %s "
                        "IN CLEAR (no TLS). Development and tests only.", url)
    if not values["LDAP_USER_BASE"]:
        raise ConfigError("IDP_LDAP_USER_BASE: required when IDP_LDAP_URLS is set")
    for name in ("LDAP_USER_BASE", "LDAP_GROUP_BASE", "LDAP_BIND_DN"):
        if values[name]:
            try:
                parse_dn(values[name], strip=True)
            except (lexc.LDAPInvalidDnError, ValueError, IndexError, TypeError):
                raise ConfigError(f"IDP_{name}: {values[name]!r} is not a DN") from None
    if values["LDAP_BIND_DN"] and not values["LDAP_BIND_PASSWORD"]:
        # ldap3 and permissive servers turn a DN without a password into an anonymous bind.
        raise ConfigError("IDP_LDAP_BIND_PASSWORD: required with IDP_LDAP_BIND_DN")
    ca_file = values["LDAP_CA_FILE"]
    if ca_file:
        try:
            ssl.create_default_context(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"IDP_LDAP_CA_FILE: cannot load {ca_file!r}: {exc}") from None
    user_filter = values["LDAP_USER_FILTER"] or preset["filter"]
    _check_filter(user_filter)
    attrs = {k: (values[f"LDAP_ATTR_{k.upper()}"] or preset[k]) for k in ATTR_KEYS}
    for key, name in attrs.items():
        if not re.match(r"^[A-Za-z][A-Za-z0-9-]*$|^[0-9]+(\.[0-9]+)+$", name):
            raise ConfigError(f"IDP_LDAP_ATTR_{key.upper()}: {name!r} is not an attribute name")
    nested = values["LDAP_NESTED_GROUPS"]
    return LdapSettings(
        urls=urls, preset=values["LDAP_PRESET"], start_tls=values["LDAP_START_TLS"], ca_file=ca_file,
        allow_plaintext=values["LDAP_ALLOW_PLAINTEXT"], bind_dn=values["LDAP_BIND_DN"],
        bind_password=values["LDAP_BIND_PASSWORD"], user_base=values["LDAP_USER_BASE"], user_filter=user_filter,
        group_base=values["LDAP_GROUP_BASE"] or values["LDAP_USER_BASE"],
        nested_groups=(nested == "true") or (nested == "auto" and values["LDAP_PRESET"] == "activedirectory"),
        connect_timeout=values["LDAP_CONNECT_TIMEOUT"], receive_timeout=values["LDAP_RECEIVE_TIMEOUT"],
        pool_size=values["LDAP_POOL_SIZE"], attrs=attrs, disabled_attr=values["LDAP_ATTR_DISABLED"],
        disabled_values=frozenset(v.lower() for v in values["LDAP_DISABLED_VALUES"]),
        group_roles=parse_group_roles(values["LDAP_GROUP_ROLES"]), page_size=values["LDAP_SYNC_PAGE_SIZE"],
    )


class VerifiedTls(Tls):
    """ldap3's ``Tls`` with the standard library's certificate AND host name verification.

    ldap3 2.9.1 turns the context's host name check off and matches names itself with
    ``ssl.match_hostname`` (deprecated since Python 3.7, removed in 3.12); the standard context's
    ``check_hostname`` (RFC 6125, IP addresses in subjectAltName included) is used instead.
    """

    def wrap_socket(self, connection: Connection, do_handshake: bool = False) -> None:
        context = ssl.create_default_context(cafile=self.ca_certs_file or None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        connection.socket = context.wrap_socket(connection.socket, server_hostname=connection.server.host,
                                                do_handshake_on_connect=do_handshake)


@dataclass
class Entry:
    """One directory entry as read by the service account (attribute names compared case-insensitively)."""

    dn: str
    raw: dict[str, list[bytes]]
    server: Server | None = None

    def values(self, name: str) -> list[str]:
        return [v.decode("utf-8", "replace") for v in self.raw.get(name.lower(), [])]

    def first(self, name: str) -> str | None:
        vals = self.values(name)
        return vals[0].strip() if vals and vals[0].strip() else None


def _entries(response: list[dict[str, Any]] | None, server: Server | None) -> list[Entry]:
    found = []
    for item in response or []:
        if item.get("type") == "searchResEntry":
            raw = {str(k).lower(): list(v) for k, v in (item.get("raw_attributes") or {}).items()}
            found.append(Entry(dn=item["dn"], raw=raw, server=server))
    return found


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


T = TypeVar("T")


def _close(conn: Connection) -> None:
    """Unbind and close the socket, also after a failed open (ldap3 then leaves the socket to the GC)."""
    try:
        conn.unbind()
    except Exception:  # noqa: S110 - closing a broken connection
        pass
    sock = getattr(conn, "socket", None)
    if sock is not None:
        try:
            sock.close()
        except OSError:
            pass


class LdapConnector:
    """Authenticates staff against the directory; one instance per app, shared by threads."""

    source = "ldap"

    def __init__(self, settings: LdapSettings) -> None:
        self.settings = settings
        tls = VerifiedTls(validate=ssl.CERT_REQUIRED, ca_certs_file=settings.ca_file or None)
        self.servers = [Server(url, tls=tls, connect_timeout=settings.connect_timeout, get_info=NONE)
                        for url in settings.urls]
        self.pool = ServerPool(self.servers, FIRST, active=1, exhaust=EXHAUST_SECONDS)
        self._idle: list[Connection] = []
        self._lock = threading.Lock()

    # --- connections -------------------------------------------------------------------------------
    def _secure(self, conn: Connection) -> None:
        """StartTLS (RFC 4511 section 4.14) on a plain connection when configured; before any bind."""
        if self.settings.start_tls and not conn.server.ssl and not conn.start_tls():
            raise lexc.LDAPStartTLSError(f"StartTLS refused: {conn.result.get('description')}")

    def _open_service(self) -> Connection:
        conn = Connection(self.pool, user=self.settings.bind_dn or None,
                          password=self.settings.bind_password or None, read_only=True, auto_referrals=False,
                          receive_timeout=self.settings.receive_timeout, raise_exceptions=False,
                          return_empty_attributes=False)
        try:
            conn.open()
            self._secure(conn)
            if not conn.bind():
                code, desc = conn.result.get("result"), conn.result.get("description")
                log.error("LDAP service bind as %r on %s refused: %s %s", self.settings.bind_dn, conn.server,
                          code, desc)
                raise SourceUnavailable(f"service bind refused ({desc})")
        except (lexc.LDAPServerPoolExhaustedError, SourceUnavailable):
            self._discard(conn)
            raise
        except (lexc.LDAPException, OSError) as exc:
            # Accepted the connection but failed (TLS, a hung server's receive timeout ...): skip it for a while.
            log.warning("LDAP server %s failed (%s: %s); trying the next server", conn.server, type(exc).__name__,
                        exc)
            self._mark_down(conn.server)
            self._discard(conn)
            raise
        except BaseException:
            self._discard(conn)
            raise
        return conn

    def _discard(self, conn: Connection) -> None:
        _close(conn)
        self.pool.pool_states.pop(conn, None)  # ldap3 keeps every connection of a pool in this dict

    def _mark_down(self, server: Server | None) -> None:
        """Keep ``server`` out of the pool for EXHAUST_SECONDS (it accepted but did not answer)."""
        state = getattr(self.pool, "_pool_state", None)
        for server_state in getattr(state, "server_states", []):
            if server_state.server is server:
                server_state.available = False
                server_state.last_checked_time = dt.datetime.now()

    def _revive_if_all_down(self) -> None:
        state = getattr(self.pool, "_pool_state", None)
        if state is not None and not any(s.available for s in state.server_states):
            state.refresh()

    def with_service(self, operation: Callable[[Connection], T]) -> T:
        """Run ``operation`` on a bound service connection, failing over to the next server on network errors."""
        attempts = len(self.servers) + 1
        last: Exception | None = None
        for _attempt in range(attempts):
            reused = False
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            try:
                if conn is None:
                    conn = self._open_service()
                else:
                    reused = True
                result = operation(conn)
            except lexc.LDAPServerPoolExhaustedError as exc:
                last = exc
                log.error("LDAP: no directory server answered (%s)", ", ".join(self.settings.urls))
                self._revive_if_all_down()
                continue
            except (lexc.LDAPException, OSError) as exc:
                last = exc
                if conn is not None:  # failed during the operation (opening failures are handled there)
                    self._discard(conn)
                    if not reused:
                        self._mark_down(conn.server)
                    log.warning("LDAP server %s failed (%s: %s)%s", conn.server, type(exc).__name__, exc,
                                "; reconnecting" if reused else "; trying the next server")
                continue
            except BaseException:
                if conn is not None:
                    self._discard(conn)
                raise
            with self._lock:
                if conn.bound and not conn.closed and len(self._idle) < self.settings.pool_size:
                    self._idle.append(conn)
                    conn = None
            if conn is not None:
                self._discard(conn)
            return result
        raise SourceUnavailable(f"no directory server answered: {type(last).__name__}: {last}")

    def close(self) -> None:
        """Unbind the pooled service connections."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            self._discard(conn)

    # --- searches ----------------------------------------------------------------------------------
    def _search(self, conn: Connection, base: str, flt: str, attributes: list[str],
                size_limit: int = 0) -> list[Entry]:
        ok = conn.search(base, flt, SUBTREE, attributes=attributes, size_limit=size_limit)
        code = conn.result.get("result", 0)
        if not ok and code == 32:  # noSuchObject: the base does not exist (a configuration mistake)
            log.error("LDAP search base %r does not exist on %s", base, conn.server)
            return []
        if not ok and code in _UNAVAILABLE_CODES:
            raise lexc.LDAPSessionTerminatedByServerError(f"search answered {code} "
                                                          f"{conn.result.get('description')}")
        if not ok and code not in (0, 4):  # 4: sizeLimitExceeded, the entries so far are returned
            log.error("LDAP search on %s failed: %s %s", conn.server, code, conn.result.get("description"))
            raise SourceUnavailable(f"search failed: {conn.result.get('description')}")
        return _entries(conn.response, conn.server)

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
        from idp.sources import nik as nik_module
        from idp.sources import nip as nip_module

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
                or any(ord(ch) < 32 for ch in username) or "\x00" in password:
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
        entries = self.find(username)
        if len(entries) != 1:
            if len(entries) > 1:
                log.warning("LDAP: the user filter matched more than one entry; sign-in refused")
            self._dummy_bind(password)
            raise BadCredentials("invalid", detail="no single matching entry")
        entry = entries[0]
        state = self.state_of(entry)
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
