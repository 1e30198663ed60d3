"""Backups of the provider's configuration: clients, approvals, signing keys and settings as one JSON document.

For disaster recovery and for moving between environments (``idp export`` / ``idp import``).  The document
holds what an operator configured, not what people did: clients (secrets as keyed hashes), the operator's
scope approvals (``approved_scopes`` and the scope requests with their purposes), the signing keys with
their private parts **still encrypted** under ``IDP_DATA_KEYS``, and the non-secret settings for
comparison.  People, accounts, consents, tokens and the audit log are personal data: they move with the
PostgreSQL backup (README "Backups and restoring a node"), never in this document.

Import is idempotent (clients by ``client_id``, keys by ``kid``, scope requests by client, scope and time)
and refuses a document made under other ``IDP_DATA_KEYS`` or another ``IDP_HASH_KEY``, naming the setting:
the keys would not decrypt and the client secrets would not verify.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from idp import audit
from idp.config import SETTINGS
from idp.crypto import DecryptError
from idp.extensions import db, state
from idp.models import Client, ScopeRequest, SigningKey, Team, utcnow
from idp.oauth import keys

FORMAT = "idp-backup"
VERSION = 1
# Settings that hold credentials or name this machine's own paths: never copied into a document.
LOCAL_SETTINGS = frozenset({"DATABASE_URL", "REDIS_URL", "INSTANCE_DIR", "REDIS_SENTINELS", "REDIS_CLUSTER_NODES"})
CLIENT_FIELDS = ("client_secret_hash", "client_id_issued_at", "client_secret_expires_at", "client_metadata",
                 "first_party", "require_pkce", "approved_scopes", "disabled", "registration_token_hash",
                 "created_by", "previous_secret_hash")
KEY_FIELDS = ("alg", "private_enc", "public_jwk", "status")
KEY_TIMES = ("created_at", "activated_at", "retired_at")


class BackupError(ValueError):
    """The document cannot be imported here; the message says why and what to do."""


@dataclass
class ImportResult:
    """What an import changed (counts per kind) and the settings that differ from this environment."""

    clients_added: int = 0
    clients_updated: int = 0
    keys_added: int = 0
    keys_present: int = 0
    scope_requests_added: int = 0
    settings_differ: list[str] = field(default_factory=list)


def _time(value: dt.datetime | None) -> str | None:
    return None if value is None else value.replace(microsecond=0).isoformat()


def _parse_time(value: Any) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(str(value))


def _checks() -> dict[str, Any]:
    crypto = state().crypto
    return {"data_keys": dict(crypto.fingerprints),
            "hash_key": crypto.keyed_hash("backup", "hash key fingerprint")[:32]}


def export_document() -> dict[str, Any]:
    """The document of this environment (read-only; the export itself is audited by the caller's commit)."""
    teams = {t.id: t.name for t in db.session.execute(select(Team)).scalars()}
    clients = db.session.execute(select(Client).order_by(Client.id)).scalars().all()
    by_id = {c.id: c.client_id for c in clients}
    requests = db.session.execute(select(ScopeRequest).order_by(ScopeRequest.id)).scalars().all()
    signing = db.session.execute(select(SigningKey).order_by(SigningKey.id)).scalars().all()
    cfg = state().config
    document = {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": _time(utcnow()),
        "issuer": cfg["ISSUER"],
        "checks": _checks(),
        "clients": [{
            "client_id": c.client_id, **{name: getattr(c, name) for name in CLIENT_FIELDS},
            "previous_secret_expires_at": _time(c.previous_secret_expires_at), "created_at": _time(c.created_at),
            "team": teams.get(c.team_id) if c.team_id else None,
        } for c in clients],
        "scope_requests": [{
            "client_id": by_id[r.client_id], "scope": r.scope, "purpose": r.purpose, "status": r.status,
            "requested_at": _time(r.requested_at), "decided_at": _time(r.decided_at),
            "decision_note": r.decision_note,
        } for r in requests],
        # Private parts exactly as stored: encrypted under IDP_DATA_KEYS (the kid prefixes each value).
        "signing_keys": [{"kid": k.kid, **{name: getattr(k, name) for name in KEY_FIELDS},
                          **{name: _time(getattr(k, name)) for name in KEY_TIMES}}
                         for k in signing if k.private_enc],
        "settings": {s.name: cfg[s.name] for s in SETTINGS if not s.secret and s.name not in LOCAL_SETTINGS},
    }
    audit.record("admin.backup_exported", clients=len(clients), keys=len(document["signing_keys"]))
    return document


def _check_document(doc: Any) -> None:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise BackupError("not an idp backup document (made by `idp export`)")
    if doc.get("version") != VERSION:
        raise BackupError(f"backup document version {doc.get('version')!r} is not supported here (this "
                          f"provider reads version {VERSION}); import it with the release that made it")
    here = _checks()
    theirs = doc.get("checks") or {}
    missing = [kid for kid, tag in (theirs.get("data_keys") or {}).items() if here["data_keys"].get(kid) != tag]
    if missing:
        raise BackupError(
            f"the document was made under other IDP_DATA_KEYS (data key {', '.join(sorted(missing))} is not "
            "in this environment's IDP_DATA_KEYS): its signing keys would not decrypt. Set the same "
            "IDP_DATA_KEYS (new keys may come first) and import again")
    if theirs.get("hash_key") != here["hash_key"]:
        raise BackupError("the document was made under another IDP_HASH_KEY: its client secrets would not "
                          "verify. Set the same IDP_HASH_KEY and import again")
    crypto = state().crypto
    for item in doc.get("signing_keys") or []:
        try:
            crypto.decrypt(item["private_enc"], "signing_key")
        except (DecryptError, ValueError, KeyError, TypeError):
            raise BackupError(f"signing key {item.get('kid')!r} does not decrypt with this environment's "
                              "IDP_DATA_KEYS; nothing was imported") from None


def import_document(doc: Any) -> ImportResult:
    """Add or update what the document holds, in one transaction; running it again changes nothing."""
    _check_document(doc)
    result = ImportResult()
    teams = {t.name: t.id for t in db.session.execute(select(Team)).scalars()}
    clients: dict[str, Client] = {}
    for item in doc.get("clients") or []:
        row = db.session.execute(select(Client).where(Client.client_id == item["client_id"])).scalar_one_or_none()
        values = {name: item.get(name) for name in CLIENT_FIELDS}
        values["previous_secret_expires_at"] = _parse_time(item.get("previous_secret_expires_at"))
        values["team_id"] = teams.get(item.get("team") or "")
        if row is None:
            row = Client(client_id=item["client_id"], created_at=_parse_time(item.get("created_at")) or utcnow(),
                         **values)
            db.session.add(row)
            result.clients_added += 1
        elif any(getattr(row, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(row, name, value)
            result.clients_updated += 1
        clients[item["client_id"]] = row
    db.session.flush()
    for item in doc.get("scope_requests") or []:
        client = clients.get(item["client_id"])
        requested_at = _parse_time(item["requested_at"])
        if client is None:
            continue
        known = db.session.execute(select(ScopeRequest.id).where(
            ScopeRequest.client_id == client.id, ScopeRequest.scope == item["scope"],
            ScopeRequest.requested_at == requested_at)).first()
        if known is None:
            # The people who asked and decided are not in the document (personal data): left empty.
            db.session.add(ScopeRequest(client_id=client.id, scope=item["scope"], purpose=item["purpose"],
                                        status=item["status"], requested_at=requested_at,
                                        decided_at=_parse_time(item.get("decided_at")),
                                        decision_note=item.get("decision_note")))
            result.scope_requests_added += 1
    for item in doc.get("signing_keys") or []:
        if db.session.execute(select(SigningKey.id).where(SigningKey.kid == item["kid"])).first() is not None:
            result.keys_present += 1
            continue
        db.session.add(SigningKey(kid=item["kid"], **{name: item[name] for name in KEY_FIELDS},
                                  **{name: _parse_time(item.get(name)) for name in KEY_TIMES}))
        result.keys_added += 1
    cfg = state().config
    for name, value in sorted((doc.get("settings") or {}).items()):
        if name in {s.name for s in SETTINGS} and name not in LOCAL_SETTINGS and cfg[name] != value:
            result.settings_differ.append(name)
    audit.record("admin.backup_imported", clients_added=result.clients_added,
                 clients_updated=result.clients_updated, keys_added=result.keys_added,
                 scope_requests_added=result.scope_requests_added)
    db.session.commit()
    keys.reset()
    return result
