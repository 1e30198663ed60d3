"""Audit events for the security team's SIEM: one JSON line per event to a configurable sink.

Every :func:`idp.audit.record` also builds a SIEM event (:func:`build`) and parks it on the database
session; it is handed to the sink only after that session COMMITS (SQLAlchemy ``after_commit``), and
dropped on rollback, so an event whose transaction was rolled back is never shipped.  The sink
(``IDP_SIEM_SINK``) is one of

- ``stdout``: one JSON line per event on standard output;
- ``syslog+udp://host:port``: one RFC 5424 message per datagram (RFC 5426);
- ``syslog+tcp://host:port``: RFC 5424 messages with octet counting framing (RFC 6587 3.4.1);
- ``http(s)://...``: a POST of ``application/x-ndjson`` (a batch of lines), retried with backoff.

Delivery never blocks a request: events go to a bounded in-memory queue that one background thread per
process drains; when the queue is full the OLDEST event is dropped and counted
(``idp_siem_events_dropped_total``).  The endpoint is the operator's own collector, often on an internal
network, so the HTTP sink deliberately does not use :mod:`idp.net`'s server-side request forgery guard
(that guard is for URLs clients register).

The schema (``"schema": "idp.audit/1"``; fields are only added, never renamed, within a version):

``event`` (the audit event name), ``time`` (RFC 3339, UTC), ``outcome`` (``success``/``failure``),
``actor`` (who acted: ``{"type": "person"|"admin"|"client"|"anonymous", "id": ...}``), ``subject`` (the
person concerned, as a keyed hash: stable per deployment, not reversible without ``IDP_HASH_KEY``),
``client`` (client_id), ``ip``, ``user_agent``, ``request_id``, ``security`` (true for security-relevant
patterns), ``pattern`` (which one, or null: ``failed_sign_in_burst_account``, ``failed_sign_in_burst_ip``,
``lock``, ``admin_action``, ``key_rotation``, ``linking``, ``token_replay``), ``detail`` (the audit
detail, with every run of 16 digits masked: a NIK never leaves the provider).
"""

from __future__ import annotations

import atexit
import collections
import datetime as dt
import json
import logging
import os
import re
import socket
import sys
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import urllib3
from flask import Flask, current_app, g, has_app_context, has_request_context
from prometheus_client import Counter
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, SessionTransaction

from idp.extensions import db, state

log = logging.getLogger(__name__)

SCHEMA = "idp.audit/1"
PENDING = "siem_pending"  # Session.info key: events waiting for the commit
SYSLOG_FACILITY = 10  # authpriv (RFC 5424 6.2.1): security/authorization messages
SEVERITY_INFO, SEVERITY_WARNING = 6, 4
EXIT_FLUSH_SECONDS = 3.0
BATCH = 100  # HTTP: at most this many lines per POST
# Runs of 16 or more digits (a NIK, written with or without separators) are masked in the detail.
LONG_DIGITS = re.compile(r"\d(?:[ .-]?\d){15,}")

SENT = Counter("idp_siem_events_sent", "Audit events handed to the SIEM sink.")
DROPPED = Counter("idp_siem_events_dropped", "Audit events the SIEM sink dropped (queue full, or delivery "
                  "failed after every retry).", ["reason"])
_DROPPED = {reason: DROPPED.labels(reason) for reason in ("queue_full", "undeliverable")}

PATTERN_EVENTS = {
    "login.locked": "lock",
    "admin.person_locked": "lock",
    "admin.keys_rotated": "key_rotation",
    "keys.rotated": "key_rotation",
    "link": "linking",
    "unlink": "linking",
    "person.merged": "linking",
    "link.refused": "linking",
    "link.data_mismatch": "linking",
    "oauth.code_reuse": "token_replay",
    "oauth.refresh_reuse": "token_replay",
}


# --- building an event ---------------------------------------------------------------------------------
def _hash(purpose: str, value: Any) -> str:
    # A purpose of its own: the SIEM never sees the store's or the database's lookup keys.
    return str(state().crypto.keyed_hash(f"siem.{purpose}", str(value)))[:32]


def _scrub(value: Any) -> Any:
    """The value with every long run of digits (a NIK) masked, recursively."""
    if isinstance(value, str):
        return LONG_DIGITS.sub(lambda m: m.group(0)[:4] + "*" * (len(m.group(0)) - 8) + m.group(0)[-4:], value)
    if isinstance(value, dict):
        return {str(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value]
    return value


def _burst(kind: str, key: str) -> bool:
    """Count one failed sign-in for ``key``; True when the window's count reached the burst threshold."""
    cfg = state().config
    count = state().store.incr("siem", f"fail:{kind}:{key}", int(cfg["SIEM_BURST_WINDOW"]))
    return bool(count >= int(cfg["SIEM_BURST_THRESHOLD"]))


def _pattern(event: str, outcome: str, subject: str | None, account: str | None, ip: str | None) -> str | None:
    if event in PATTERN_EVENTS:
        return PATTERN_EVENTS[event]
    if event.startswith(("admin.", "adminapi.")):
        return "admin_action"
    if event in ("login", "login.second_factor") and outcome == "failure":
        # Both counters move on every failure, so that either burst is seen whichever comes first.
        by_account = _burst("account", account or subject or "") if (account or subject) else False
        by_ip = _burst("ip", ip) if ip else False
        if by_account:
            return "failed_sign_in_burst_account"
        if by_ip:
            return "failed_sign_in_burst_ip"
    return None


def build(event: str, outcome: str, person_id: int | None, client_id: str | None, ip: str | None,
          user_agent: str | None, detail: dict[str, Any], account: str | None = None) -> dict[str, Any]:
    """The SIEM event of one audit event (see the module doc for the schema)."""
    detail = dict(detail)
    actor: dict[str, str | None]
    subject = _hash("person", person_id) if person_id is not None else None
    admin = detail.pop("admin", None)
    api_client = detail.pop("api_client", None)
    if api_client is not None:
        actor = {"type": "client", "id": str(api_client)}
    elif admin is not None:
        actor = {"type": "admin", "id": _hash("person", admin)}
    elif subject is not None and outcome == "success":
        actor = {"type": "person", "id": subject}
    else:
        actor = {"type": "anonymous", "id": None}
    account_hash = _hash("account", account) if account else None
    pattern = _pattern(event, outcome, subject, account_hash, ip)
    return {
        "schema": SCHEMA,
        "event": event,
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "outcome": outcome,
        "actor": actor,
        "subject": subject,
        "client": client_id,
        "ip": ip,
        "user_agent": user_agent,
        "request_id": g.get("request_id") if has_request_context() else None,
        "security": pattern is not None,
        "pattern": pattern,
        "detail": _scrub(detail),
    }


def enabled() -> bool:
    return has_app_context() and bool(state().config["SIEM_SINK"])


def park(item: dict[str, Any]) -> None:
    """Keep ``item`` on the current session until it commits (:func:`_after_commit`)."""
    pending: list[tuple[Sink, dict[str, Any]]] = db.session.info.setdefault(PENDING, [])
    pending.append((sink(), item))


def _after_commit(session: Session) -> None:
    for target, item in session.info.pop(PENDING, []):
        target.put(item)


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    # The outermost transaction ended: committed events were taken by _after_commit (which runs first), so
    # whatever is still parked was rolled back or closed without a commit and never happened: not shipped.
    # (A rollback to a savepoint keeps the events parked before it; the provider writes no audit event
    # inside a savepoint.)
    if transaction.parent is None:
        session.info.pop(PENDING, None)


sa_event.listen(Session, "after_commit", _after_commit)
sa_event.listen(Session, "after_transaction_end", _after_transaction_end)


# --- the sink ----------------------------------------------------------------------------------------
def format_syslog(item: dict[str, Any]) -> bytes:
    """One RFC 5424 message: ``<PRI>1 TIMESTAMP HOST APP PROCID MSGID - JSON``."""
    severity = SEVERITY_WARNING if item.get("security") else SEVERITY_INFO
    host = (socket.gethostname() or "-")[:255].replace(" ", "-")
    msgid = str(item.get("event") or "-")[:32]
    line = json.dumps(item, ensure_ascii=False, separators=(",", ":"))
    return f"<{SYSLOG_FACILITY * 8 + severity}>1 {item['time']} {host} idp {os.getpid()} {msgid} - {line}".encode()


class Sink:
    """A bounded queue and the background thread that delivers it to one destination."""

    def __init__(self, target: str, *, queue_size: int, retries: int, timeout: int, token: str = "") -> None:
        self.target = target
        self.retries = retries
        self.timeout = timeout
        self.token = token
        self.queue: collections.deque[dict[str, Any]] = collections.deque()
        self.queue_size = queue_size
        self.cond = threading.Condition()
        self.busy = False
        self.thread: threading.Thread | None = None
        self.pid = 0
        self.sock: socket.socket | None = None
        self.http: urllib3.PoolManager | None = None

    def put(self, item: dict[str, Any]) -> None:
        """Queue ``item``; never blocks (the oldest queued event is dropped when full)."""
        with self.cond:
            if len(self.queue) >= self.queue_size:
                self.queue.popleft()
                _DROPPED["queue_full"].inc()
            self.queue.append(item)
            self._ensure_thread()
            self.cond.notify()

    def _ensure_thread(self) -> None:
        # One thread per process, started at the first event: a gunicorn worker forked from a master
        # that already had one gets its own.
        if self.thread is None or self.pid != os.getpid() or not self.thread.is_alive():
            self.pid = os.getpid()
            self.sock = None
            self.thread = threading.Thread(target=self._run, name="idp-siem", daemon=True)
            self.thread.start()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued event was delivered or dropped (tests, shutdown); True when drained."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.queue or self.busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(min(left, 0.05))
        return True

    def _run(self) -> None:
        while True:
            with self.cond:
                while not self.queue:
                    self.busy = False
                    self.cond.notify_all()
                    self.cond.wait()
                self.busy = True
                batch = [self.queue.popleft() for _ in range(min(BATCH, len(self.queue)))]
            try:
                self._deliver(batch)
                SENT.inc(len(batch))
            except Exception:  # noqa: BLE001 - the thread must survive any failure of the destination
                log.warning("SIEM sink %s: %d event(s) undeliverable", self.scheme, len(batch), exc_info=True)
                _DROPPED["undeliverable"].inc(len(batch))

    @property
    def scheme(self) -> str:
        return self.target.split(":", 1)[0]

    def _deliver(self, batch: list[dict[str, Any]]) -> None:
        if self.target == "stdout":
            sys.stdout.write("".join(json.dumps(i, ensure_ascii=False, separators=(",", ":")) + "\n"
                                     for i in batch))
            sys.stdout.flush()
        elif self.scheme in ("syslog+udp", "syslog+tcp"):
            self._syslog(batch)
        else:
            self._post(batch)

    def _syslog(self, batch: list[dict[str, Any]]) -> None:
        parts = urlsplit(self.target)
        address = (parts.hostname or "127.0.0.1", parts.port or 514)
        udp = self.scheme == "syslog+udp"
        for attempt in range(self.retries + 1):
            try:
                if self.sock is None:
                    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
                    self.sock = socket.socket(family, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
                    self.sock.settimeout(self.timeout)
                    if not udp:
                        self.sock.connect(address)
                for item in batch:
                    message = format_syslog(item)
                    if udp:
                        self.sock.sendto(message, address)
                    else:  # RFC 6587 3.4.1: MSG-LEN SP SYSLOG-MSG
                        self.sock.sendall(f"{len(message)} ".encode() + message)
                return
            except OSError:
                if self.sock is not None:
                    self.sock.close()
                self.sock = None
                if attempt == self.retries:
                    raise
                time.sleep(min(5.0, 0.2 * 2 ** attempt))

    def _post(self, batch: list[dict[str, Any]]) -> None:
        if self.http is None:
            self.http = urllib3.PoolManager(num_pools=1, retries=False,
                                            timeout=urllib3.Timeout(total=self.timeout))
        body = "".join(json.dumps(i, ensure_ascii=False, separators=(",", ":")) + "\n" for i in batch).encode()
        headers = {"Content-Type": "application/x-ndjson"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        for attempt in range(self.retries + 1):
            try:
                resp = self.http.request("POST", self.target, body=body, headers=headers, redirect=False)
                if 200 <= resp.status < 300:
                    return
                if 400 <= resp.status < 500 and resp.status not in (408, 429):
                    raise RuntimeError(f"the collector refused the events: HTTP {resp.status}")
            except urllib3.exceptions.HTTPError:
                if attempt == self.retries:
                    raise
            if attempt == self.retries:
                raise RuntimeError("the collector kept failing")
            time.sleep(min(5.0, 0.2 * 2 ** attempt))


def sink(app: Flask | None = None) -> Sink:
    """The application's sink (made at start-up by :func:`init_app`)."""
    found: Sink = state(app or current_app).extra["siem"]
    return found


def init_app(app: Flask) -> None:
    cfg = state(app).config
    if cfg["SIEM_SINK"]:
        made = Sink(cfg["SIEM_SINK"], queue_size=cfg["SIEM_QUEUE_SIZE"], retries=cfg["SIEM_RETRIES"],
                    timeout=cfg["SIEM_TIMEOUT"], token=cfg["SIEM_HTTP_TOKEN"])
        state(app).extra["siem"] = made
        # The thread is a daemon (it never holds a process up); at a normal exit (a worker's graceful
        # stop, a CLI command) it gets a moment to deliver what is queued.
        atexit.register(made.flush, EXIT_FLUSH_SECONDS)
