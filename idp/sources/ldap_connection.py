"""Connections to the directory: verified TLS, the ldap3 server pool, and pooled service connections.

:class:`ServiceConnections` keeps a few service-account connections bound in a thread-safe pool and
runs searches on them (:meth:`ServiceConnections.with_service`), failing over to the next server when
one does not answer; :class:`idp.sources.ldap.LdapConnector` builds the sign-in on top of it.
"""

from __future__ import annotations

import datetime as dt
import logging
import ssl
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

with warnings.catch_warnings():
    # ldap3 2.9.1 imports names that pyasn1 0.6 renamed (tagMap -> TAG_MAP): a DeprecationWarning at
    # import time only, which the test suite (filterwarnings = error) would turn into an error.
    warnings.simplefilter("ignore", DeprecationWarning)
    import ldap3
    from ldap3 import FIRST, NONE, SUBTREE, Connection, Server, ServerPool, Tls
    from ldap3.core import exceptions as lexc

from idp.sources.base import SourceUnavailable
from idp.sources.ldap_settings import LdapSettings

# One logger name for the whole LDAP source, as before the split (operators filter on it).
log = logging.getLogger("idp.sources.ldap")

# ldap3 sleeps POOLING_LOOP_TIMEOUT (10 s) after a pool cycle in which no server answered before it
# gives up; a sign-in must fail fast instead (the page says "try again later").
ldap3.set_config_parameter("POOLING_LOOP_TIMEOUT", 0)

# Servers that failed are skipped by every connection for this long (ldap3 "exhaust").
EXHAUST_SECONDS = 30
# Result codes that mean "the server cannot serve now" rather than "no such person".
_UNAVAILABLE_CODES = {51, 52, 80}  # busy, unavailable, other


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


class ServiceConnections:
    """The directory's servers and a small pool of bound service-account connections; shared by threads."""

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
