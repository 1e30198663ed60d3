"""What the administration console does, apart from its pages (:mod:`idp.web.admin`).

Finding people (by e-mail, by name, or by exact NIK through the keyed hash: never by a NIK prefix,
which the hash cannot answer and which would let anyone enumerate NIKs), locking and unlocking them,
ending their sessions (through :mod:`idp.people.signout`, like every other end of a session), managing any
team's clients, and reading the audit log with filters and as CSV.  Every change is audited as
``admin.<action>`` with the administrator's person id; callers commit.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select

from idp import audit
from idp.extensions import db, state
from idp.models import (
    AuditEvent,
    CitizenAccount,
    Client,
    Person,
    RefreshToken,
    ScopeRequest,
    StaffAccount,
    Team,
    utcnow,
)
from idp.oauth import registration, tokens
from idp.oauth.clients import ADMIN_SCOPE
from idp.people import access, signout
from idp.people import session as login_session
from idp.sources import nik
from idp.sources.citizen import nik_hash

SEARCH_LIMIT = 25
MAX_ID = 2**31 - 1  # integer columns: a larger number is "not found", not a database error
PAGE_SIZE = 50
MAX_PAGE = 100_000
CSV_MAX_ROWS = 50_000
CSV_COLUMNS = ("at", "event", "outcome", "person_id", "client_id", "ip", "user_agent", "detail")
# OWASP "CSV injection": a spreadsheet treats a cell starting with these as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def actor(admin_id: int | None, api_client: str | None) -> dict[str, Any]:
    """Who acted, for the audit detail: an administrator (console, person id) or an automation client of
    the administration API (:mod:`idp.web.admin_api`, its client_id)."""
    if api_client is not None:
        return {"api_client": api_client}
    return {"admin": admin_id}


# --- people ----------------------------------------------------------------------------------------
def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def find_by_email(address: str) -> list[Person]:
    """People whose account or profile e-mail is exactly ``address`` (case-insensitive)."""
    wanted = address.strip().lower()
    if not wanted or len(wanted) > 254:
        return []
    ids = set(db.session.execute(select(CitizenAccount.person_id).where(CitizenAccount.email == wanted)).scalars())
    ids |= set(db.session.execute(select(Person.id).where(func.lower(Person.email) == wanted)).scalars())
    return _people(ids)


def find_by_name(text: str, limit: int = SEARCH_LIMIT) -> list[Person]:
    """People whose name contains ``text`` (case-insensitive), at most ``limit``."""
    text = " ".join(text.split())
    if len(text) < 2 or len(text) > 200:
        return []
    pattern = f"%{_like_escape(text.lower())}%"
    return list(db.session.execute(
        select(Person).where(func.lower(Person.name).like(pattern, escape="\\"), Person.status != "deleted")
        .order_by(Person.name, Person.id).limit(limit)).scalars())


def find_by_nik(raw: str) -> list[Person]:
    """People whose citizen or staff account holds exactly this NIK (keyed hash); [] for anything else.

    Only a whole 16-digit NIK is looked up: a hash answers equality only, so a prefix finds nothing.
    """

    digits = nik.normalize(raw)
    if digits is None or len(digits) != nik.LENGTH:
        return []
    hashed = nik_hash(digits)
    ids = set(db.session.execute(select(CitizenAccount.person_id).where(CitizenAccount.nik_hash == hashed)).scalars())
    ids |= set(db.session.execute(select(StaffAccount.person_id).where(StaffAccount.nik_hash == hashed)).scalars())
    return _people(ids)


def find_by_username(name: str) -> list[Person]:
    """People whose directory account has exactly this user name (case-insensitive)."""
    wanted = name.strip().lower()
    if not wanted or len(wanted) > 256 or not wanted.isprintable():
        return []
    return _people(db.session.execute(select(StaffAccount.person_id)
                                      .where(func.lower(StaffAccount.username) == wanted)).scalars())


SEARCHES = ("nik", "username", "email", "name")


def search(by: str, value: str, *, admin_id: int | None = None, api_client: str | None = None) -> list[Person]:
    """People found ``by`` one of SEARCHES (a NIK only whole, through its keyed hash); the search is audited
    (what was searched by and how many were found, never the value)."""
    finder = {"nik": find_by_nik, "username": find_by_username, "email": find_by_email, "name": find_by_name}[by]
    found = finder(value)
    audit.record("admin.people_searched", **actor(admin_id, api_client), by=by, found=len(found))
    return found


def _people(ids: Iterable[int]) -> list[Person]:
    wanted = sorted(set(ids))
    if not wanted:
        return []
    return list(db.session.execute(select(Person).where(Person.id.in_(wanted)).order_by(Person.id)).scalars())


def get_person(person_id: int) -> Person | None:
    return db.session.get(Person, person_id) if 0 < person_id <= MAX_ID else None


def masked_staff_nik(account: StaffAccount) -> str | None:
    """The staff account's NIK, masked (``3603********0001``), or None."""
    if not account.nik_enc:
        return None

    try:
        return nik.mask(state().crypto.decrypt(account.nik_enc, "staff.nik"))
    except Exception:  # noqa: BLE001 - a key this process lacks: show that there is one, not which
        return "*" * nik.LENGTH


def _revoke_all_tokens(person_id: int, reason: str) -> int:

    return tokens.revoke([RefreshToken.person_id == person_id], reason)


def end_sessions(person: Person, *, admin_id: int | None = None, sid: str | None = None,
                 api_client: str | None = None) -> int:
    """End the person's sessions (or one): tokens of each revoked, applications told; audited."""
    if sid is not None:
        if sid not in {s.sid for s in login_session.sessions_of(person.id)}:
            return 0
        ended = [s for s in [login_session.end_sid(sid)] if s is not None]
    else:
        ended = login_session.end_all(person.id)
    signout.sessions_ended(ended, reason="administrator")
    audit.record("admin.sessions_ended", person_id=person.id, **actor(admin_id, api_client), sessions=len(ended),
                 single=sid is not None)
    return len(ended)


def lock(person: Person, *, admin_id: int | None = None, reason: str | None = None,
         api_client: str | None = None) -> int:
    """Lock the person: every session ends (applications told), every refresh token is revoked.

    ``locked`` is not ``disabled`` (what the directory sync sets and lifts): only an administrator's
    unlock lifts an administrator's lock, whatever the directory does meanwhile.
    """
    person.status = "locked"
    db.session.flush()  # the database work first: the store is not transactional
    ended = login_session.end_all(person.id)
    # keep_offline=False: a locked person keeps no offline access either.
    signout.sessions_ended(ended, reason="administrator", keep_offline=False)
    families = _revoke_all_tokens(person.id, "admin_locked")
    audit.record("admin.person_locked", person_id=person.id, **actor(admin_id, api_client), sessions=len(ended),
                 families=families, reason=(reason or "")[:200] or None)
    return len(ended)


def unlock(person: Person, *, admin_id: int | None = None, api_client: str | None = None) -> None:
    if person.status == "locked":  # never revives a person the directory disabled, or a merged one
        person.status = "active"
    audit.record("admin.person_unlocked", person_id=person.id, **actor(admin_id, api_client))


# --- clients -------------------------------------------------------------------------------------------
def clients(name: str = "", team: str = "", limit: int = 200) -> list[tuple[Client, Team | None]]:
    """Clients of any team, filtered by name (in the metadata) and team name, substrings, case-insensitive."""
    query: Select[Any] = select(Client, Team).outerjoin(Team, Team.id == Client.team_id)
    if team.strip():
        query = query.where(func.lower(Team.name).like(f"%{_like_escape(team.strip().lower())}%", escape="\\"))
    rows = [(c, t) for c, t in db.session.execute(query.order_by(Client.id)).all()]
    wanted = name.strip().lower()
    if wanted:  # client_name lives in the JSON metadata: filtered here, portable across databases
        rows = [(c, t) for c, t in rows
                if wanted in str((c.client_metadata or {}).get("client_name") or "").lower()
                or wanted in c.client_id.lower()]
    return rows[:limit]


def client_name(client: Client) -> str:
    return str((client.client_metadata or {}).get("client_name") or client.client_id)


def get_client(client_id: str) -> Client | None:
    """The client with this client_id (any team, disabled too), or None."""
    if not client_id or len(client_id) > 64 or not client_id.isprintable():  # NUL: PostgreSQL refuses it
        return None
    return db.session.execute(select(Client).where(Client.client_id == client_id)).scalar_one_or_none()


def team_of(client: Client) -> Team | None:
    return db.session.get(Team, client.team_id) if client.team_id is not None else None


def create_client(metadata: Any, *, approved_scopes: str = "", admin_id: int | None = None,
                  api_client: str | None = None) -> tuple[Client, str | None]:
    """Register an operator-managed client (no team) under RFC 7591's rules; its secret is returned once.

    ``approved_scopes`` may name sensitive scopes (the operator's approval); never the administration
    API's own scope, which only ``idp admin-api grant`` gives.  Raises MetadataError.
    """
    client, secret = registration.create_client(metadata, approved_scopes=approved_scopes,
                                                created_by=f"api:{api_client}" if api_client else f"admin:{admin_id}")
    audit.record("admin.client_created", client_id=client.client_id, **actor(admin_id, api_client))
    return client, secret


def update_client(client: Client, metadata: Any, *, admin_id: int | None = None,
                  api_client: str | None = None) -> str | None:
    """Replace the client's metadata (RFC 7592 2.2 rules: the subject type and sector stay).

    Returns a new secret (shown once) when the change moved the client to a secret-based method.
    Raises MetadataError.
    """
    clean = registration.validate_metadata(metadata, current=dict(client.client_metadata or {}))
    for kept in ("description",):  # the portal's own extras survive an update through the API
        if kept in (client.client_metadata or {}) and kept not in clean:
            clean[kept] = client.client_metadata[kept]
    secret = None
    if registration.uses_secret(clean) and not client.client_secret_hash:
        secret = registration.new_secret()
        client.client_secret_hash = registration.secret_hash(secret)
    elif not registration.uses_secret(clean):
        client.client_secret_hash = client.previous_secret_hash = None
        client.previous_secret_expires_at = None
    client.client_metadata = clean
    audit.record("admin.client_updated", client_id=client.client_id, **actor(admin_id, api_client))
    return secret


class NoSecret(ValueError):
    """The client does not authenticate with a secret (public or private_key_jwt)."""


def rotate_secret(client: Client, *, grace: int, admin_id: int | None = None,
                  api_client: str | None = None) -> str:
    """A new secret (returned once); the replaced one keeps working for ``grace`` seconds (0: ends now)."""
    if not registration.uses_secret(client.client_metadata or {}) or not client.client_secret_hash:
        raise NoSecret(client.client_id)
    secret = registration.new_secret()
    if grace > 0:
        client.previous_secret_hash = client.client_secret_hash
        client.previous_secret_expires_at = utcnow() + dt.timedelta(seconds=grace)
    else:
        client.previous_secret_hash = client.previous_secret_expires_at = None
    client.client_secret_hash = registration.secret_hash(secret)
    audit.record("admin.client_secret_rotated", client_id=client.client_id, grace=grace,
                 **actor(admin_id, api_client))
    return secret


def set_client_disabled(client: Client, disabled: bool, *, admin_id: int | None = None,
                        api_client: str | None = None) -> None:

    client.disabled = disabled
    families = registration.revoke_client_tokens(client, "client_disabled") if disabled else 0
    audit.record("admin.client_disabled" if disabled else "admin.client_enabled", client_id=client.client_id,
                 **actor(admin_id, api_client), families=families)


def delete_client(client: Client, *, admin_id: int | None = None, api_client: str | None = None) -> None:

    client_id = client.client_id
    registration.delete_client(client)
    audit.record("admin.client_deleted", client_id=client_id, **actor(admin_id, api_client))


class NotAutomation(ValueError):
    """The client cannot hold the administration API's scope (it is public or lacks client_credentials)."""


def grant_admin_api(client: Client, *, by: str) -> bool:
    """Let ``client`` obtain ``idp:admin`` (an operator's decision: ``idp admin-api grant``); False when it
    already could.  Only a confidential client registered for the client credentials grant qualifies."""
    meta = client.client_metadata or {}
    if (meta.get("token_endpoint_auth_method") == "none"
            or "client_credentials" not in (meta.get("grant_types") or [])):
        raise NotAutomation(client.client_id)
    scopes = (client.approved_scopes or "").split()
    if ADMIN_SCOPE in scopes:
        return False
    client.approved_scopes = " ".join([*scopes, ADMIN_SCOPE])
    audit.record("admin.api_granted", client_id=client.client_id, operator=by)
    return True


def revoke_admin_api(client: Client, *, by: str) -> bool:
    """Take ``idp:admin`` away (tokens already issued stop working within ``IDP_CLIENT_CACHE_SECONDS``,
    as the API checks the grant on every call); False when the client did not hold it."""
    scopes = (client.approved_scopes or "").split()
    if ADMIN_SCOPE not in scopes:
        return False
    client.approved_scopes = " ".join(s for s in scopes if s != ADMIN_SCOPE)
    audit.record("admin.api_revoked", client_id=client.client_id, operator=by)
    return True


def access_policy(client: Client) -> dict[str, Any]:
    """The application's access policy (:mod:`idp.people.access`): only the fields it sets."""
    meta = client.client_metadata or {}
    return {f: meta[f] for f in access.FIELDS if meta.get(f)}


def set_access_policy(client: Client, *, person_type: str | None, groups: list[str] | None, acr: str | None,
                      by: str, admin_id: int | None = None) -> dict[str, Any]:
    """Replace who may sign in to the application (issue 18), through the registration rules
    (MetadataError when refused); audited as ``client.policy_changed``; the caller commits."""
    meta = {k: v for k, v in (client.client_metadata or {}).items() if k not in access.FIELDS}
    for field, value in (("required_person_type", person_type), ("required_groups", groups),
                         ("required_acr", acr)):
        if value:
            meta[field] = value
    client.client_metadata = registration.validate_metadata(meta, current=client.client_metadata)
    policy = access_policy(client)
    audit.record("client.policy_changed", person_id=admin_id, client_id=client.client_id, policy=policy, by=by)
    return policy


# --- audit log ---------------------------------------------------------------------------------------
@dataclass
class AuditFilter:
    """The audit log's filters, as checked from the query string."""

    person_id: int | None = None
    client_id: str | None = None
    event: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    # Keyset paging (the API's export): only events older than this one, so that events written while
    # an export pages through the log do not shift its pages.
    before_id: int | None = None

    def query(self) -> Select[Any]:
        query: Select[Any] = select(AuditEvent)
        if self.before_id is not None:
            query = query.where(AuditEvent.id < self.before_id)
        if self.person_id is not None:
            query = query.where(AuditEvent.person_id == self.person_id)
        if self.client_id:
            query = query.where(AuditEvent.client_id == self.client_id)
        if self.event:
            query = query.where(AuditEvent.event.startswith(self.event, autoescape=True))
        if self.since is not None:
            query = query.where(AuditEvent.at >= self.since)
        if self.until is not None:
            query = query.where(AuditEvent.at <= self.until)
        return query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())

    def args(self) -> dict[str, str]:
        """The filters as query parameters (for links to the next page and the export)."""
        out = {"person": str(self.person_id) if self.person_id is not None else "",
               "client": self.client_id or "", "event": self.event or "",
               "from": self.since.strftime("%Y-%m-%dT%H:%M") if self.since else "",
               "to": self.until.strftime("%Y-%m-%dT%H:%M") if self.until else "",
               "before": str(self.before_id) if self.before_id is not None else ""}
        return {k: v for k, v in out.items() if v}


class BadFilter(ValueError):
    """A filter value that cannot be one (the page answers 400 and says which)."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


def _when(raw: str, field: str, *, end: bool = False) -> dt.datetime | None:
    raw = raw.strip()
    if not raw:
        return None
    for fmt in ("%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            value = dt.datetime.strptime(raw[:19], fmt)
        except ValueError:
            continue
        if len(raw) > 19 or not 1970 <= value.year <= 9998:
            raise BadFilter(field)
        if fmt == "%Y-%m-%d" and end:  # "to 2026-01-31" includes that whole day
            value += dt.timedelta(days=1) - dt.timedelta(microseconds=1)
        return value
    raise BadFilter(field)


def parse_filter(args: Any) -> AuditFilter:
    """Check the audit log's query parameters; :class:`BadFilter` names the first bad one."""
    found = AuditFilter()
    person = (args.get("person") or "").strip()
    if person:
        if not person.isdigit() or not person.isascii() or len(person) > 10 or not 0 < int(person) <= MAX_ID:
            raise BadFilter("person")
        found.person_id = int(person)
    client = (args.get("client") or "").strip()
    if client:
        if len(client) > 64 or not client.isprintable():
            raise BadFilter("client")
        found.client_id = client
    event = (args.get("event") or "").strip()
    if event:
        if len(event) > 64 or not event.isprintable():
            raise BadFilter("event")
        found.event = event
    before = (args.get("before") or "").strip()
    if before:
        if not before.isdigit() or not before.isascii() or len(before) > 10 or not 0 < int(before) <= MAX_ID:
            raise BadFilter("before")
        found.before_id = int(before)
    found.since = _when(args.get("from") or "", "from")
    found.until = _when(args.get("to") or "", "to", end=True)
    return found


def parse_page(raw: str | None) -> int:
    """A page number from 1 to MAX_PAGE; :class:`BadFilter` for anything else."""
    if raw is None or raw == "":
        return 1
    if not raw.isascii() or not raw.isdigit() or len(raw) > 6 or not 1 <= int(raw) <= MAX_PAGE:
        raise BadFilter("page")
    return int(raw)


def audit_page(flt: AuditFilter, page: int) -> tuple[Sequence[AuditEvent], bool]:
    """One page of events, newest first, and whether there is a next page."""
    rows = db.session.execute(flt.query().offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)).scalars().all()
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


def csv_cell(value: Any) -> str:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def audit_csv(flt: AuditFilter) -> str:
    """The filtered events as CSV (RFC 4180), newest first, at most CSV_MAX_ROWS rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in db.session.execute(flt.query().limit(CSV_MAX_ROWS)).scalars():
        detail = json.dumps(row.detail, ensure_ascii=False, sort_keys=True) if row.detail else ""
        writer.writerow([csv_cell(v) for v in (row.at.strftime("%Y-%m-%dT%H:%M:%SZ"), row.event, row.outcome,
                                               row.person_id, row.client_id, row.ip, row.user_agent, detail)])
    return out.getvalue()


def counts() -> dict[str, int]:
    """Numbers for the console's start page."""

    return {
        "pending": db.session.execute(select(func.count()).select_from(ScopeRequest)
                                      .where(ScopeRequest.status == "pending")).scalar_one(),
        "clients": db.session.execute(select(func.count()).select_from(Client)).scalar_one(),
        "locked": db.session.execute(select(func.count()).select_from(Person)
                                     .where(Person.status == "locked")).scalar_one(),
    }

