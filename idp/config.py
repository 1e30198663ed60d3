"""The one table of settings, read from ``IDP_*`` environment variables and validated at start-up.

Every setting the provider reads is declared here with its type, default and a one-line description;
the README's configuration reference is generated from this table (``idp config-doc``).  A bad value
stops the start with :class:`ConfigError` naming the setting, as node-oidc-provider's defaults table does.

Longer than the 400 lines the other modules keep to, on purpose: the table is the one place an operator
or a newcomer reads every setting, so it is not split by area.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import logging
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)


JWKS_MAX_AGE = 300  # seconds: the Cache-Control max-age of /jwks.json


class ConfigError(RuntimeError):
    """A setting has a value the provider cannot run with."""


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("expected true or false")


def _auto_bool(raw: str) -> bool | None:
    """``auto`` (or empty): None, decided from other settings in :func:`_validate`; else a boolean."""
    return None if raw.strip().lower() in {"auto", ""} else _bool(raw)


def _int(raw: str) -> int:
    return int(raw.strip())


def _str(raw: str) -> str:
    return raw.strip()


def _list(raw: str) -> list[str]:
    return [item.strip() for item in raw.replace("\n", ",").split(",") if item.strip()]


@dataclass(frozen=True)
class Setting:
    """One row of the defaults table."""

    name: str
    default: Any
    parse: Callable[[str], Any]
    doc: str
    secret: bool = False
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] | None = None


S = Setting
SETTINGS: tuple[Setting, ...] = (
    # --- deployment ---
    S("ENV", "development", _str, "`development` (generates missing keys, warns loudly) or `production` "
      "(every secret must be given).", choices=("development", "production")),
    S("ISSUER", "http://127.0.0.1:5000", _str, "Public base URL of the provider; the `iss` of every token. "
      "Must be https in production."),
    S("DATABASE_URL", "", _str, "SQLAlchemy URL. Empty: a SQLite file `idp.db` in the instance folder. "
      "Production: `postgresql+psycopg://user:pass@host/db`."),
    S("REDIS_URL", "", _str, "Redis URL (`redis://` or `rediss://`) for short-lived state. Empty: an "
      "in-process store that works only with a single worker process."),
    S("REDIS_SENTINELS", [], _list, "Redis Sentinel addresses (`host:port`, comma-separated; three or more) "
      "instead of `IDP_REDIS_URL`: the store asks them for the master of `IDP_REDIS_SENTINEL_SERVICE` and "
      "follows a failover by itself."),
    S("REDIS_SENTINEL_SERVICE", "idp", _str, "Name of the master the sentinels watch (`sentinel monitor NAME ...`)."),
    S("REDIS_CLUSTER_NODES", [], _list, "Some Redis Cluster nodes (`host:port`, comma-separated) instead of "
      "`IDP_REDIS_URL`: the store reads the cluster's slot map from them and follows a failover by itself."),
    S("REDIS_PASSWORD", "", _str, "Password of the Redis servers with `IDP_REDIS_SENTINELS` or "
      "`IDP_REDIS_CLUSTER_NODES` (a single Redis takes it in `IDP_REDIS_URL`).", secret=True),
    S("REDIS_TLS", False, _bool, "Connect to the Redis servers of `IDP_REDIS_SENTINELS` or "
      "`IDP_REDIS_CLUSTER_NODES` over TLS (a single Redis: `rediss://`)."),
    S("REDIS_MIN_REPLICAS", 1, _int, "With sentinels or a cluster: every write waits (Redis `WAIT`) until this "
      "many replicas have it, and fails with 503 otherwise, so a failover never loses a redeemed code or "
      "brings it back. 0 trades that for availability with no replica left.", minimum=0, maximum=5),
    S("REDIS_WAIT_TIMEOUT", 500, _int, "Milliseconds a write waits for `IDP_REDIS_MIN_REPLICAS` replicas.",
      minimum=10, maximum=10000),
    S("INSTANCE_DIR", "", _str, "Folder for the SQLite file, generated development keys and the mail "
      "outbox. Empty: `./instance`."),
    S("TRUSTED_PROXIES", 0, _int, "Number of reverse proxies in front of the provider whose "
      "`X-Forwarded-*` headers are trusted (0 when clients connect directly).", minimum=0, maximum=5),
    S("LOG_LEVEL", "INFO", _str, "Python logging level.", choices=("DEBUG", "INFO", "WARNING", "ERROR")),
    S("MAX_REQUEST_BYTES", 65536, _int, "Largest request body accepted; larger requests get 413.",
      minimum=1024, maximum=10 * 1024 * 1024),
    # --- secrets ---
    S("SECRET_KEY", "", _str, "Key that signs the browser cookie (CSRF token, locale). At least 32 "
      "characters. Development: generated into the instance folder.", secret=True),
    S("DATA_KEYS", "", _list, "AES-256-GCM keys for personal data at rest (NIK) and for private signing "
      "keys, as `kid:base64key` items separated by commas; the first encrypts, all decrypt (rotation). "
      "Generate one with `idp keys new-data-key`.", secret=True),
    S("HASH_KEY", "", _str, "Base64 key (32 bytes or more) for keyed hashes: NIK lookup column, client "
      "secrets, registration tokens. Changing it makes existing NIK lookups and secrets unusable.",
      secret=True),
    S("PAIRWISE_SECRET", "", _str, "Base64 key (32 bytes or more) that derives `pairwise` subject identifiers "
      "(OpenID Connect Core 8.1): the same person gets a different, stable `sub` per sector. Changing it "
      "changes every pairwise `sub`. Empty: derived from `IDP_HASH_KEY`.", secret=True),
    S("CLIENT_CACHE_SECONDS", 5, _int, "How long each provider process keeps a client's registration in "
      "memory (the token endpoint then needs no database query for it). A change made in this process "
      "takes effect at once; other processes and nodes see it within this many seconds (a new client "
      "secret works at once everywhere). 0: no cache.", minimum=0, maximum=300),
    S("CLIENT_SECRET_GRACE", 86400, _int, "Seconds a client secret replaced in the developer portal keeps "
      "working, so that the application can be updated without an outage.", minimum=0, maximum=30 * 86400),
    S("MFA_REQUIRED_ROLES", ["admin", "officer"], _list, "Staff holding any of these roles (from "
      "`IDP_LDAP_GROUP_ROLES`; `officer`: the service-counter console) must use two-step verification at every "
      "sign-in (set it up at the first one)."),
    S("PASSKEY_RP_ID", "", _str, "WebAuthn relying-party id of passkeys: the issuer's host name or a parent "
      "domain of it. Empty: the issuer's host name (passkeys are off when the issuer's host is an IP address, "
      "which WebAuthn does not accept). Changing it makes every registered passkey unusable."),
    S("PASSKEY_ORIGINS", [], _list, "More origins (`https://host[:port]`) allowed to run passkey ceremonies "
      "besides the issuer's own; each host must be the relying-party id or a subdomain of it."),
    # --- signing keys ---
    S("KEY_ROTATION_OVERLAP", 86400, _int, "Seconds a new signing key from `idp keys rotate` is published in "
      "JWKS before it signs anything, so that relying parties' cached key sets already hold it. At least "
      "twice `IDP_KEYRING_RELOAD_SECONDS` plus the JWKS cache lifetime (300) in production.",
      minimum=1, maximum=30 * 86400),
    S("KEYRING_RELOAD_SECONDS", 60, _int, "How often each provider process re-reads the signing keys (and at "
      "the moment a scheduled key starts signing), so that a rotation made anywhere reaches every process "
      "and node.", minimum=1, maximum=3600),
    # --- lifetimes (seconds) ---
    S("CODE_TTL", 60, _int, "Lifetime of an authorization code.", minimum=10, maximum=600),
    S("ACCESS_TOKEN_TTL", 900, _int, "Lifetime of an access token.", minimum=60, maximum=86400),
    S("ID_TOKEN_TTL", 900, _int, "Lifetime of an ID token.", minimum=60, maximum=86400),
    S("AUDIT_RETENTION_DAYS", 365, _int, "`idp audit purge` deletes audit events older than this many days "
      "(run it daily from cron).", minimum=1, maximum=36500),
    S("REFRESH_TOKEN_TTL", 30 * 86400, _int, "Lifetime of a refresh token family (absolute).",
      minimum=600, maximum=365 * 86400),
    S("SESSION_IDLE_TTL", 3600, _int, "A sign-in session ends after this long without use.",
      minimum=60, maximum=30 * 86400),
    S("SESSION_ABSOLUTE_TTL", 12 * 3600, _int, "A sign-in session ends this long after sign-in.",
      minimum=300, maximum=90 * 86400),
    S("SESSION_REMEMBER_TTL", 14 * 86400, _int, "\"Remember me\" (an explicit choice on the sign-in page): "
      "the session lasts this long, with no idle timeout, and its cookie survives closing the browser. "
      "0 hides the choice.", minimum=0, maximum=90 * 86400),
    S("AUTH_REQUEST_TTL", 1800, _int, "How long a pending authorization request waits for sign-in.",
      minimum=60, maximum=7200),
    S("AUTH_REQUESTS_PER_IP", 120, _int, "Pending authorization requests (an application sent the browser to "
      "`/authorize`, the person has yet to sign in or consent) one client IP address (IPv6: one /64) may open "
      "per minute; beyond it the application gets `temporarily_unavailable` (RFC 6749 4.1.2.1). Generous: "
      "offices and mobile networks put many people behind one address.", minimum=5, maximum=1_000_000),
    S("AUTH_REQUESTS_MAX", 3000, _int, "Pending authorization requests the provider opens per minute in all; "
      "beyond it every application gets `temporarily_unavailable` until the minute is over. Each request is "
      "kept `IDP_AUTH_REQUEST_TTL`, so the store holds at most this many times (TTL / 60 + 1).",
      minimum=100, maximum=10_000_000),
    S("EMAIL_VERIFY_TTL", 2 * 86400, _int, "Lifetime of an e-mail verification link.",
      minimum=600, maximum=14 * 86400),
    S("UNVERIFIED_ACCOUNT_TTL", 2 * 86400, _int, "Seconds a citizen registration may stay with its e-mail address "
      "unconfirmed; then it is deleted and its NIK is free again (no permanent squatting).",
      minimum=3600, maximum=30 * 86400),
    # --- passwords and brute force ---
    S("PASSWORD_MIN_LENGTH", 10, _int, "Minimum password length (no other composition rules).",
      minimum=8, maximum=64),
    S("ARGON2_TIME_COST", 2, _int, "argon2id iterations (OWASP: 2 with 19 MiB).", minimum=1, maximum=20),
    S("ARGON2_MEMORY_KIB", 19456, _int, "argon2id memory in KiB.", minimum=7168, maximum=1048576),
    S("ARGON2_PARALLELISM", 1, _int, "argon2id lanes.", minimum=1, maximum=16),
    S("LOGIN_MAX_FAILURES", 10, _int, "Failed sign-ins per account (and per IP, times 5) before a "
      "temporary lock.", minimum=3, maximum=1000),
    S("LOGIN_LOCK_SECONDS", 300, _int, "Length of the first temporary lock after too many failures; each "
      "further lock within a day lasts twice as long as the one before.", minimum=30, maximum=86400),
    S("LOGIN_LOCK_MAX_SECONDS", 3600, _int, "The longest a lock can last, however often it recurs (so that "
      "an attacker can never lock a person out for good).", minimum=30, maximum=7 * 86400),
    # --- forgotten password (idp.people.recovery) ---
    S("RECOVERY_CODE_TTL", 900, _int, "Lifetime of a forgotten-password code (sent to the account's confirmed "
      "address; single use, kept only as a keyed hash).", minimum=300, maximum=3600),
    S("RECOVERY_MAX_TRIES", 5, _int, "Wrong codes one forgotten-password request accepts; then the person "
      "must ask for a new code (at most 3 codes per account and hour).", minimum=1, maximum=10),
    S("RECOVERY_REQUESTS_PER_IP", 20, _int, "Forgotten-password requests one client IP address may make per "
      "hour (the same answer for known and unknown accounts, so this only slows down a scan).",
      minimum=1, maximum=100_000),
    S("RECOVERY_REQUESTS_PER_HOUR", 2000, _int, "Forgotten-password requests the provider accepts per hour in "
      "all (a flood guard; beyond it everybody is asked to try again later).", minimum=10, maximum=10_000_000),
    # --- registration defences ---
    S("REGISTRATIONS_PER_IP", 10, _int, "Citizen registrations one client IP address may submit per hour.",
      minimum=1, maximum=100_000),
    S("REGISTRATIONS_PER_HOUR", 1000, _int, "Citizen registrations the provider accepts per hour in all.",
      minimum=10, maximum=10_000_000),
    S("PROOF_OF_WORK", "auto", _str, "A self-hosted proof-of-work check (ALTCHA, solved by the browser in a few "
      "seconds, no third party, no tracking) on registration and the forgotten-password form: `auto` once half "
      "of a per-address or global hourly limit is used, `always`, or `off`.", choices=("auto", "always", "off")),
    S("PROOF_OF_WORK_MAX_NUMBER", 100000, _int, "Difficulty of the proof of work (the largest number a browser "
      "may have to try; about a second per 100000 on a phone).", minimum=1000, maximum=10_000_000),
    S("STAFF_PASSWORD_RESET_URL", "", _str, "Page of the agencies' own process for a forgotten directory "
      "(staff) password, linked from the forgotten-password page. Empty: staff are told to ask their agency's "
      "IT desk."),
    # --- help desk, shown on every dead-end page and in the mails that mention it ---
    S("HELPDESK_NAME", "", _str, "Name of the help desk (for example `Layanan Pengaduan Diskominfo Banten`). "
      "Empty: the help desk block is shown with the other fields only."),
    S("HELPDESK_PHONE", "", _str, "Telephone or WhatsApp number of the help desk, as people should dial it."),
    S("HELPDESK_HOURS", "", _str, "Opening hours of the help desk, as text (for example `Senin-Jumat "
      "08.00-16.00 WIB`)."),
    S("HELPDESK_URL", "", _str, "Web page of the help desk (http or https)."),
    # --- text messages (idp.sms) ---
    S("SMS_GATEWAY_URL", "", _str, "HTTP(S) endpoint of the SMS/WhatsApp gateway: each message is POSTed as JSON "
      "`{\"to\": \"+62...\", \"text\": \"...\"}` with `Authorization: Bearer IDP_SMS_GATEWAY_TOKEN`; any 2xx is "
      "delivered. Empty: messages are written to the outbox folder (`*.sms`) like mails."),
    S("SMS_GATEWAY_TOKEN", "", _str, "Bearer token for the SMS gateway.", secret=True),
    S("SMS_TIMEOUT", 5, _int, "Seconds to wait for the SMS gateway (connect and answer).", minimum=1, maximum=60),
    S("SMS_RETRIES", 2, _int, "Further attempts after a gateway error or timeout (not after a 4xx refusal).",
      minimum=0, maximum=5),
    S("SMS_PER_NUMBER_PER_HOUR", 3, _int, "Text messages one phone number may receive per hour.",
      minimum=1, maximum=100),
    S("SMS_PER_IP_PER_HOUR", 10, _int, "Text messages requests from one client IP address may cause per hour.",
      minimum=1, maximum=100_000),
    S("SMS_DAILY_CAP", 2000, _int, "Text messages the provider sends per day in all (a cost guard); beyond it "
      "codes are not sent until midnight UTC and the pages say to try later or use e-mail.",
      minimum=1, maximum=10_000_000),
    # --- mail ---
    S("SMTP_HOST", "", _str, "SMTP server. Empty: mails are written to the log (without links' "
      "secrets at INFO) and to the outbox folder instead of being sent."),
    S("SMTP_PORT", 587, _int, "SMTP port.", minimum=1, maximum=65535),
    S("SMTP_TLS", "starttls", _str, "`starttls`, `ssl` (implicit TLS) or `none`.",
      choices=("starttls", "ssl", "none")),
    S("SMTP_USER", "", _str, "SMTP user name (empty: no authentication)."),
    S("SMTP_PASSWORD", "", _str, "SMTP password.", secret=True),
    S("SMTP_TIMEOUT", 10, _int, "SMTP connect and response timeout.", minimum=1, maximum=120),
    S("SMTP_CA_FILE", "", _str, "PEM file of the certificate authority that signed the SMTP server's "
      "certificate (empty: the system's trusted authorities)."),
    S("MAIL_FROM", "SSO Banten <no-reply@bantenprov.go.id>", _str, "Sender of the mails."),
    S("OUTBOX_DIR", "", _str, "Folder for mails when no SMTP host is set. Empty: `<instance>/outbox`."),
    # --- staff directory (LDAP / Active Directory); empty IDP_LDAP_* names take the preset's value ---
    S("LDAP_URLS", [], _list, "Directory servers, tried in this order (`ldaps://host:636`, `ldap://host:389`); "
      "when one does not answer the next is tried within the same sign-in. Empty: staff sign-in is off."),
    S("LDAP_PRESET", "openldap", _str, "Defaults for the directory kind: `openldap` (uid, entryUUID, memberOf, "
      "ppolicy) or `activedirectory` (sAMAccountName, objectGUID, userAccountControl, nested groups). Every "
      "`IDP_LDAP_*` setting overrides the preset.", choices=("openldap", "activedirectory")),
    S("LDAP_START_TLS", False, _bool, "Upgrade `ldap://` connections with StartTLS before any bind."),
    S("LDAP_CA_FILE", "", _str, "PEM file of the authority that signed the directory's certificate (empty: the "
      "system's trusted authorities). Certificate and host name are always verified."),
    S("LDAP_ALLOW_PLAINTEXT", False, _bool, "DEVELOPMENT/TEST ONLY: allow `ldap://` without StartTLS "
      "(passwords cross the network in clear; a warning is logged at start-up)."),
    S("LDAP_BIND_DN", "", _str, "DN of the service account that searches for people (empty: anonymous search)."),
    S("LDAP_BIND_PASSWORD", "", _str, "Password of the service account.", secret=True),
    S("LDAP_USER_BASE", "", _str, "Search base for people, e.g. `ou=people,dc=bantenprov,dc=go,dc=id`."),
    S("LDAP_USER_FILTER", "", _str, "Search filter; `{username}` is replaced by the typed user name, escaped "
      "(RFC 4515). Preset: `(&(objectClass=inetOrgPerson)(uid={username}))` / "
      "`(&(objectCategory=person)(objectClass=user)(sAMAccountName={username}))`."),
    S("LDAP_GROUP_BASE", "", _str, "Search base for the nested group search (Active Directory; empty: the user "
      "base)."),
    S("LDAP_NESTED_GROUPS", "auto", _str, "Resolve nested groups with the `1.2.840.113556.1.4.1941` matching "
      "rule (`auto`: only for Active Directory).", choices=("auto", "true", "false")),
    S("LDAP_CONNECT_TIMEOUT", 3, _int, "Seconds to wait for a directory server to accept a connection.",
      minimum=1, maximum=30),
    S("LDAP_RECEIVE_TIMEOUT", 5, _int, "Seconds to wait for a directory server's answer.", minimum=1, maximum=60),
    S("LDAP_POOL_SIZE", 4, _int, "Service connections kept open and reused across sign-ins.", minimum=1,
      maximum=64),
    S("LDAP_ATTR_ID", "", _str, "Stable identifier attribute (never the DN). Preset: `entryUUID` / `objectGUID`."),
    S("LDAP_ATTR_USERNAME", "", _str, "User name attribute. Preset: `uid` / `sAMAccountName` (or "
      "`userPrincipalName`)."),
    S("LDAP_ATTR_NAME", "", _str, "Full name attribute. Preset: `cn` / `displayName`."),
    S("LDAP_ATTR_EMAIL", "", _str, "E-mail attribute. Preset: `mail`."),
    S("LDAP_ATTR_NIP", "", _str, "NIP (18-digit civil servant number) attribute. Preset: `employeeNumber` / "
      "`employeeID`."),
    S("LDAP_ATTR_NIK", "", _str, "NIK attribute (a custom schema; never logged). Preset: `nik`."),
    S("LDAP_ATTR_UNIT", "", _str, "Work unit (OPD) attribute. Preset: `ou` / `department`."),
    S("LDAP_ATTR_TITLE", "", _str, "Job title attribute. Preset: `title`."),
    S("LDAP_ATTR_GROUPS", "", _str, "Group membership attribute. Preset: `memberOf`."),
    S("LDAP_ATTR_DISABLED", "", _str, "Attribute whose value (one of IDP_LDAP_DISABLED_VALUES) marks a disabled "
      "account, e.g. `employeeType`. Always checked as well: ppolicy's administrative lock (OpenLDAP) and "
      "`userAccountControl` bit 0x2 (Active Directory)."),
    S("LDAP_DISABLED_VALUES", ["disabled"], _list, "Values of IDP_LDAP_ATTR_DISABLED that mean disabled "
      "(compared case-insensitively)."),
    S("LDAP_GROUP_ROLES", "", _str, "Roles granted by group membership: `group DN=role` items separated by `;`, "
      "e.g. `cn=idp-admins,ou=groups,dc=bantenprov,dc=go,dc=id=admin`."),
    S("LDAP_SYNC_PAGE_SIZE", 500, _int, "Entries per page (RFC 2696 simple paged results) for `idp ldap sync`.",
      minimum=10, maximum=5000),
    # --- protocol ---
    S("DEFAULT_LOCALE", "id", _str, "Language of the pages until the person (the language switch) or the "
      "application (`ui_locales`) chooses another; the browser's `Accept-Language` does not decide.",
      choices=("id", "en")),
    S("SENSITIVE_SCOPES", ["nik", "staff"], _list, "Scopes a client may obtain only when allowed by an operator "
      "(`nik`: the citizen's NIK; `staff`: NIP, unit, title, groups and roles of civil servants)."),
    S("ALLOW_INSECURE_HTTP", False, _bool, "DEVELOPMENT ONLY: allow an http issuer outside loopback."),
    S("JWKS_URI_ALLOW_LOOPBACK", None, _auto_bool, "DEVELOPMENT/TEST ONLY: let clients register http or "
      "loopback/private `jwks_uri`, `sector_identifier_uri` and `backchannel_logout_uri` and let the provider "
      "call them (otherwise refused as a server-side request forgery guard). `auto`: on when `IDP_ISSUER` is an "
      "http loopback URL (`make run`, so back-channel logout can be tried on one machine), off otherwise; "
      "never on with `IDP_ENV=production`."),
    S("JWKS_URI_TIMEOUT", 3, _int, "Timeout for fetching a client's `jwks_uri` (private_key_jwt).",
      minimum=1, maximum=15),
    S("JWKS_URI_CACHE_TTL", 300, _int, "How long a client's fetched `jwks_uri` keys are cached.",
      minimum=0, maximum=86400),
    S("ADMIN_API_RATE_LIMIT", 120, _int, "Calls a minute each client may make to the administration API "
      "(`/admin/api`; the same number per address for calls without a valid token); beyond it 429.",
      minimum=1, maximum=100_000),
    # --- back-channel logout (OpenID Connect Back-Channel Logout 1.0) ---
    S("BACKCHANNEL_WORKER", True, _bool, "Deliver logout notices from a background thread of each provider "
      "process (false: only `idp logout deliver`, e.g. from cron)."),
    S("BACKCHANNEL_TIMEOUT", 5, _int, "Seconds an application's `backchannel_logout_uri` may take to answer "
      "one notice.", minimum=1, maximum=30),
    S("BACKCHANNEL_MAX_ATTEMPTS", 8, _int, "Delivery attempts per notice before it is marked failed (logged "
      "at WARNING, listed by `idp logout status`).", minimum=1, maximum=20),
    S("BACKCHANNEL_RETRY_SECONDS", 15, _int, "Wait before the first retry; it doubles after every failed "
      "attempt (at most one hour).", minimum=1, maximum=3600),
    S("BACKCHANNEL_POLL_SECONDS", 30, _int, "How often the background thread looks for due notices queued "
      "by other processes or left by a restart.", minimum=1, maximum=3600),
    S("SESSION_SWEEP_SECONDS", 60, _int, "How often the background thread looks for sign-in sessions that "
      "expired (idle or absolute timeout) and queues their logout notices.", minimum=5, maximum=3600),
    # --- population-registry verification of a NIK (issue 15; README "Proving a NIK") ---
    S("REGISTRY_URL", "", _str, "URL of the population registry's data-verification service (Dukcapil-style: "
      "the NIK and the typed data go out, per-field match flags come back). Empty: registry verification is "
      "not offered. `idp registry-sim` serves a simulator for development and tests."),
    S("REGISTRY_USER", "", _str, "The agency's user name at the registry service (HTTP Basic)."),
    S("REGISTRY_PASSWORD", "", _str, "The agency's password at the registry service.", secret=True),
    S("REGISTRY_TIMEOUT", 5, _int, "Seconds one registry request may take (the person never waits for it: "
      "verification is queued).", minimum=1, maximum=30),
    S("REGISTRY_MAX_ATTEMPTS", 6, _int, "Attempts per verification before it is given up as failed (the typed "
      "data are then erased; the person may ask again).", minimum=1, maximum=20),
    S("REGISTRY_RETRY_SECONDS", 60, _int, "Wait before the first retry; it doubles after every failed attempt "
      "(at most one hour).", minimum=1, maximum=3600),
    S("REGISTRY_BREAKER_FAILURES", 5, _int, "Consecutive failed registry requests that open the circuit "
      "breaker: no request is sent while it is open.", minimum=1, maximum=100),
    S("REGISTRY_BREAKER_SECONDS", 60, _int, "How long the circuit breaker stays open before one request "
      "tries the registry again.", minimum=1, maximum=3600),
    # --- observability ---
    S("SIEM_SINK", "", _str, "Where every audit event is also sent as one JSON line for the security team's SIEM "
      "(schema `idp.audit/1`, README \"Events for the security team\"): `stdout`, `syslog+udp://host:514`, "
      "`syslog+tcp://host:514` (RFC 5424, octet counting) or an `https://` collector URL (batches of "
      "`application/x-ndjson` lines). Sent after the audit event commits, from a background thread. Empty: off."),
    S("SIEM_QUEUE_SIZE", 10000, _int, "Events each provider process holds for the SIEM sink while it is slow or "
      "down; when full the oldest is dropped and counted (`idp_siem_events_dropped_total`).",
      minimum=10, maximum=1_000_000),
    S("SIEM_RETRIES", 3, _int, "Further attempts (with doubling waits) before a batch of events counts as "
      "undeliverable.", minimum=0, maximum=10),
    S("SIEM_TIMEOUT", 5, _int, "Seconds the SIEM collector (HTTP or syslog over TCP) may take per attempt.",
      minimum=1, maximum=60),
    S("SIEM_HTTP_TOKEN", "", _str, "Bearer token sent to an HTTP collector (empty: none).", secret=True),
    S("SIEM_BURST_THRESHOLD", 5, _int, "Failed sign-ins on one account (or from one IP address) within "
      "`IDP_SIEM_BURST_WINDOW` from which the events are marked `\"security\": true` with a "
      "`failed_sign_in_burst_*` pattern.", minimum=2, maximum=100_000),
    S("SIEM_BURST_WINDOW", 300, _int, "Seconds over which failed sign-ins count towards a burst.",
      minimum=10, maximum=86400),
    S("LOG_FORMAT", "text", _str, "`text` (human-readable) or `json` (one JSON object per line with the "
      "request id, for log collectors).", choices=("text", "json")),
    S("OTEL_EXPORTER_OTLP_ENDPOINT", "", _str, "OpenTelemetry traces (Flask, SQLAlchemy, Redis, the directory, "
      "outbound HTTP) go to this OTLP/HTTP collector (`http(s)://host:4318`; spans to `/v1/traces`). Empty: "
      "tracing off. The standard `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER*`, "
      "`OTEL_EXPORTER_OTLP_HEADERS` and `OTEL_BSP_*` variables apply. Spans never carry query strings, form "
      "bodies, bound SQL values, Redis values, LDAP filters or a NIK."),
    S("METRICS_ALLOW", ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"], _list,
      "Networks (CIDR, comma-separated) allowed to read `/metrics`; others get 404. Behind a proxy the "
      "client address is the one `IDP_TRUSTED_PROXIES` resolves."),
)

SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass
class Config:
    """Parsed settings, keyed by name without the ``IDP_`` prefix."""

    values: dict[str, Any]

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


def _parse_one(setting: Setting, raw: str) -> Any:
    try:
        value = setting.parse(raw)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"IDP_{setting.name}: {exc} (got {'<hidden>' if setting.secret else raw!r})") from None
    if setting.choices and value not in setting.choices:
        raise ConfigError(f"IDP_{setting.name}: must be one of {', '.join(setting.choices)} (got {value!r})")
    if setting.minimum is not None and value < setting.minimum:
        raise ConfigError(f"IDP_{setting.name}: must be at least {setting.minimum} (got {value})")
    if setting.maximum is not None and value > setting.maximum:
        raise ConfigError(f"IDP_{setting.name}: must be at most {setting.maximum} (got {value})")
    return value


def _decode_key(name: str, raw: str, minimum: int = 32) -> bytes:
    try:
        key = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        raise ConfigError(f"IDP_{name}: not valid base64") from None
    if len(key) < minimum:
        raise ConfigError(f"IDP_{name}: key must be at least {minimum} bytes")
    return key


def _dev_secret(instance: Path, filename: str, make: Callable[[], str]) -> str:
    """Read or create a development-only secret in the instance folder."""
    path = instance / filename
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


def load(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read every setting from ``environ`` (``IDP_*``), apply ``overrides`` and validate the result."""
    env = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    unknown = [k for k in overrides if k not in SETTINGS_BY_NAME]
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join('IDP_' + k for k in unknown)}")
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.name in overrides:
            raw = overrides[setting.name]
            values[setting.name] = _parse_one(setting, raw) if isinstance(raw, str) else raw
        elif f"IDP_{setting.name}" in env:
            values[setting.name] = _parse_one(setting, env[f"IDP_{setting.name}"])
        else:
            values[setting.name] = setting.default
    _validate(values)
    return Config(values)


def _validate(values: dict[str, Any]) -> None:
    production = values["ENV"] == "production"
    instance = Path(values["INSTANCE_DIR"] or Path.cwd() / "instance").resolve()
    values["INSTANCE_DIR"] = str(instance)
    if not values["OUTBOX_DIR"]:
        values["OUTBOX_DIR"] = str(instance / "outbox")

    issuer = values["ISSUER"].rstrip("/")
    parts = urlsplit(issuer)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"IDP_ISSUER: must be an absolute http(s) URL without query or fragment (got {issuer!r})")
    loopback = parts.hostname in {"127.0.0.1", "localhost", "::1"}
    if parts.scheme == "http" and not loopback and not values["ALLOW_INSECURE_HTTP"]:
        raise ConfigError("IDP_ISSUER: must use https outside loopback (IDP_ALLOW_INSECURE_HTTP=true for development)")
    if production and parts.scheme != "https":
        raise ConfigError("IDP_ISSUER: must use https when IDP_ENV=production")
    values["ISSUER"] = issuer
    if values["JWKS_URI_ALLOW_LOOPBACK"] is None:
        # auto: a developer's own machine (http on loopback) may receive back-channel logout notices and
        # serve keys on loopback; an https or public issuer keeps the server-side request forgery guard.
        values["JWKS_URI_ALLOW_LOOPBACK"] = parts.scheme == "http" and loopback and not production

    if not values["DATABASE_URL"]:
        if production:
            raise ConfigError("IDP_DATABASE_URL: required when IDP_ENV=production")
        values["DATABASE_URL"] = f"sqlite:///{instance / 'idp.db'}"
    if not values["DATABASE_URL"].startswith(("sqlite:", "postgresql")):
        raise ConfigError("IDP_DATABASE_URL: only sqlite: and postgresql+psycopg:// URLs are supported")
    if values["REDIS_URL"] and not values["REDIS_URL"].startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("IDP_REDIS_URL: must start with redis://, rediss:// or unix://")
    redis_kinds = [name for name in ("REDIS_URL", "REDIS_SENTINELS", "REDIS_CLUSTER_NODES") if values[name]]
    if len(redis_kinds) > 1:
        raise ConfigError(f"IDP_{redis_kinds[1]}: set only one of IDP_REDIS_URL, IDP_REDIS_SENTINELS and "
                          "IDP_REDIS_CLUSTER_NODES")
    for name in ("REDIS_SENTINELS", "REDIS_CLUSTER_NODES"):
        for address in values[name]:
            host, _, port = address.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ConfigError(f"IDP_{name}: {address!r} is not host:port")
    if production and not redis_kinds:
        raise ConfigError("IDP_REDIS_URL: required when IDP_ENV=production (or IDP_REDIS_SENTINELS or "
                          "IDP_REDIS_CLUSTER_NODES; the in-process store cannot be shared by workers or nodes)")

    def need(name: str, make: Callable[[], str], filename: str) -> None:
        if values[name]:
            return
        if production:
            raise ConfigError(f"IDP_{name}: required when IDP_ENV=production")
        values[name] = _dev_secret(instance, filename, make)
        log.warning("DEVELOPMENT ONLY: IDP_%s is not set; using a generated value from %s", name,
                    instance / filename)

    need("SECRET_KEY", lambda: secrets.token_urlsafe(48), "dev-secret-key")
    if len(values["SECRET_KEY"]) < 32:
        raise ConfigError("IDP_SECRET_KEY: must be at least 32 characters")
    need("HASH_KEY", lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(), "dev-hash-key")
    values["HASH_KEY_BYTES"] = _decode_key("HASH_KEY", values["HASH_KEY"])
    # Unset: derived from the hash key, so that a deployment that never set it still has stable
    # pairwise subjects; a separate key lets the operator rotate one without the other.
    values["PAIRWISE_SECRET_BYTES"] = (
        _decode_key("PAIRWISE_SECRET", values["PAIRWISE_SECRET"]) if values["PAIRWISE_SECRET"]
        else hmac.new(values["HASH_KEY_BYTES"], b"idp pairwise subject v1", hashlib.sha256).digest())
    if not values["DATA_KEYS"]:
        if production:
            raise ConfigError("IDP_DATA_KEYS: required when IDP_ENV=production")
        raw = _dev_secret(instance, "dev-data-keys",
                          lambda: "dev1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
        log.warning("DEVELOPMENT ONLY: IDP_DATA_KEYS is not set; using a generated key from %s",
                    instance / "dev-data-keys")
        values["DATA_KEYS"] = _list(raw)
    data_keys: dict[str, bytes] = {}
    for item in values["DATA_KEYS"]:
        kid, sep, raw_key = item.partition(":")
        if not sep or not kid or not kid.isalnum() or len(kid) > 16:
            raise ConfigError("IDP_DATA_KEYS: each item must be `kid:base64key` with an alphanumeric kid")
        if kid in data_keys:
            raise ConfigError(f"IDP_DATA_KEYS: key id {kid!r} appears twice")
        key = _decode_key("DATA_KEYS", raw_key)
        if len(key) != 32:
            raise ConfigError("IDP_DATA_KEYS: each key must be exactly 32 bytes (AES-256)")
        data_keys[kid] = key
    values["DATA_KEY_MAP"] = data_keys
    values["DATA_KEY_ACTIVE"] = next(iter(data_keys))
    overlap_floor = 2 * values["KEYRING_RELOAD_SECONDS"] + JWKS_MAX_AGE
    if values["KEY_ROTATION_OVERLAP"] < overlap_floor:
        message = (f"IDP_KEY_ROTATION_OVERLAP: {values['KEY_ROTATION_OVERLAP']} s is shorter than "
                   f"{overlap_floor} s (twice IDP_KEYRING_RELOAD_SECONDS plus the JWKS cache lifetime): "
                   "a relying party could meet a new key before its cached key set has it")
        if production:
            raise ConfigError(message)
        log.warning("DEVELOPMENT ONLY: %s", message)
    if values["LOGIN_LOCK_MAX_SECONDS"] < values["LOGIN_LOCK_SECONDS"]:
        raise ConfigError("IDP_LOGIN_LOCK_MAX_SECONDS: must not be shorter than IDP_LOGIN_LOCK_SECONDS")
    if values["SESSION_IDLE_TTL"] > values["SESSION_ABSOLUTE_TTL"]:
        raise ConfigError("IDP_SESSION_IDLE_TTL: must not exceed IDP_SESSION_ABSOLUTE_TTL")
    for name in ("STAFF_PASSWORD_RESET_URL", "HELPDESK_URL", "SMS_GATEWAY_URL"):
        # Shown to people as links: only absolute web addresses (never javascript: or a relative path).
        link = urlsplit(values[name])
        if values[name] and (link.scheme not in {"http", "https"} or not link.hostname):
            raise ConfigError(f"IDP_{name}: must be an absolute http(s) URL (got {values[name]!r})")
    if values["SMTP_HOST"] and values["SMTP_USER"] and values["SMTP_TLS"] == "none" and production:
        raise ConfigError("IDP_SMTP_TLS: refusing to send SMTP credentials without TLS in production")
    _passkey_settings(values, parts.scheme, parts.hostname, parts.port)
    otlp = values["OTEL_EXPORTER_OTLP_ENDPOINT"]
    if otlp and (urlsplit(otlp).scheme not in {"http", "https"} or not urlsplit(otlp).hostname):
        raise ConfigError("IDP_OTEL_EXPORTER_OTLP_ENDPOINT: must be an http(s) URL of an OTLP/HTTP collector")
    sink = values["SIEM_SINK"]
    if sink and sink != "stdout":
        target = urlsplit(sink)
        if target.scheme not in {"syslog+udp", "syslog+tcp", "http", "https"} or not target.hostname:
            raise ConfigError("IDP_SIEM_SINK: must be stdout, syslog+udp://host:port, syslog+tcp://host:port "
                              "or an http(s) URL")
        if production and target.scheme == "http":
            raise ConfigError("IDP_SIEM_SINK: an HTTP collector must use https when IDP_ENV=production")
    # Source settings (LDAP_* -> "LDAP") are resolved by the source registry, called by create_app right
    # after load(): idp.sources.registry.resolve_settings.  None until then.
    values["LDAP"] = None


def _passkey_settings(values: dict[str, Any], scheme: str, host: str, port: int | None) -> None:
    """The passkeys' relying-party id and allowed origins, derived from the issuer (WebAuthn Level 3 5.1.3
    and 13.4.9: the RP id is the origin's effective domain or a registrable suffix of it; the origins are
    checked exactly against the client data).  ``PASSKEY_RP_ID`` None: passkeys are off."""
    # The browser's origin omits the scheme's default port (RFC 6454 6.1).
    default_port = {"http": 80, "https": 443}[scheme]
    issuer_origin = f"{scheme}://{host}" + (f":{port}" if port and port != default_port else "")
    rp_id = values["PASSKEY_RP_ID"].strip().lower().rstrip(".")
    if not rp_id:
        if _is_ip(host):
            values["PASSKEY_RP_ID"], values["PASSKEY_ORIGINS"] = None, []
            return
        rp_id = host.lower()
    if _is_ip(rp_id) or "." not in rp_id and rp_id != "localhost" or not _within(host.lower(), rp_id):
        raise ConfigError(f"IDP_PASSKEY_RP_ID: must be the issuer's host name or a parent domain of it "
                          f"(got {rp_id!r} for {host!r})")
    origins = [issuer_origin]
    for raw in values["PASSKEY_ORIGINS"]:
        parts = urlsplit(raw.rstrip("/"))
        secure = parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in {"localhost", "127.0.0.1"})
        if (not secure or not parts.hostname or parts.path or parts.query or parts.fragment or parts.username
                or not _within(parts.hostname, rp_id)):
            raise ConfigError(f"IDP_PASSKEY_ORIGINS: {raw!r} must be an https origin on {rp_id} or a subdomain")
        origins.append(raw.rstrip("/").lower())
    values["PASSKEY_RP_ID"], values["PASSKEY_ORIGINS"] = rp_id, list(dict.fromkeys(origins))


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _within(host: str, domain: str) -> bool:
    """Whether ``host`` is ``domain`` or one of its subdomains."""
    return host == domain or host.endswith("." + domain)


def reference_markdown() -> str:
    """The configuration reference table for the README."""
    rows = ["| Setting | Default | Meaning |", "|---|---|---|"]
    for s in SETTINGS:
        default = s.default
        if default is None:
            shown = "auto"
        elif isinstance(default, bool):
            shown = "true" if default else "false"
        elif isinstance(default, list):
            shown = ",".join(default)
        else:
            shown = str(default)
        shown = f"`{shown}`" if shown else "(empty)"
        rows.append(f"| `IDP_{s.name}` | {shown} | {s.doc} |")
    return "\n".join(rows)
