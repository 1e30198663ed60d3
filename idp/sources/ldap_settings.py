"""The directory settings (``IDP_LDAP_*``): presets for OpenLDAP and Active Directory, parsing, validation.

:func:`resolve_settings` turns the raw ``LDAP_*`` values of :mod:`idp.config` into one frozen
:class:`LdapSettings` (the preset applied, every value checked); the source registry
(:mod:`idp.sources.registry`) calls it at start-up, so a bad value stops the start with a
:class:`~idp.config.ConfigError`.
"""

from __future__ import annotations

import logging
import re
import ssl
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

with warnings.catch_warnings():
    # ldap3 2.9.1 imports names that pyasn1 0.6 renamed (tagMap -> TAG_MAP): a DeprecationWarning at
    # import time only, which the test suite (filterwarnings = error) would turn into an error.
    warnings.simplefilter("ignore", DeprecationWarning)
    from ldap3.core import exceptions as lexc
    from ldap3.utils.dn import parse_dn

from idp.config import ConfigError

# One logger name for the whole LDAP source, as before the split (operators filter on it).
log = logging.getLogger("idp.sources.ldap")

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
