"""The identity-source registry: one :class:`Source` entry per source, everything source-specific in one place.

The sign-in page (which sources are offered, their labels and messages, which connector checks the
credential), the account and admin pages (the label of a linked credential), linking (what to ask
for), the claims (the scopes a source contributes), the metrics and provisioning read this table;
nothing else in ``idp`` names a source.  Entries are listed in the order the sign-in page offers them.

Settings: a source with settings declares a :class:`SettingsHook`; :func:`resolve_settings` (called by
``create_app`` right after :func:`idp.config.load`) runs every hook, so the raw ``IDP_*`` values stay in
the one defaults table of :mod:`idp.config` (which imports nothing from ``sources``) while a bad value
still stops the start with a :class:`~idp.config.ConfigError`.

Provisioning (the person behind a proved :class:`Identity`) is a *people* concern (it writes
:class:`~idp.models.Person` rows), and ``sources`` must not import ``people`` (the layers in
``.importlinter``).  So an entry only NAMES its provisioning (``provisioning``: ``"person"``, a person made
or found through the identity link, or ``"staff"``, the person plus a directory record);
:mod:`idp.people.provisioning` maps each name to its function and dispatches.  The data live with the
source, the code that writes people lives in people, and the dependency still points down.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l

from idp.config import Config
from idp.extensions import state
from idp.sources import citizen, ldap, ldap_settings
from idp.sources.base import Connector, SourceUnavailable


@dataclass(frozen=True)
class SettingsHook:
    """How a source reads its settings: ``resolve(raw config)`` stored as ``config[key]`` (None: not configured)."""

    key: str
    resolve: Callable[[Config], Any]


@dataclass(frozen=True)
class Scope:
    """A scope a source contributes: the claims it releases and what the consent page says (OIDC Core 5.4)."""

    claims: tuple[str, ...]
    text: Any


@dataclass(frozen=True)
class Source:
    """One identity source: its name (``Identity.source``, ``IdentityLink.source``) and what is specific to it."""

    name: str
    label: Any  # the sign-in page's radio option
    account_label: Any  # the account, admin and session pages: "which credential is this"
    identifier_label: Any  # what the linking page asks for
    wrong_credentials: Any  # the sign-in page's answer to a wrong password or unknown user (the same text)
    unavailable: Any  # the sign-in page's answer when the source does not answer (HTTP 503)
    connector: Callable[[], Connector]
    # The sign-in page's automatic choice (no kind chosen): the first offered source that recognizes the
    # identifier; a catch-all source (always True) goes last.
    recognizes: Callable[[str], bool]
    available: Callable[[], bool] = lambda: True  # offered now (e.g. only when configured)
    settings: SettingsHook | None = None
    provisioning: str = "person"  # a name idp.people.provisioning knows (see the module docstring)
    scopes: Mapping[str, Scope] = field(default_factory=dict)
    dependency: str | None = None  # the metrics' dependency name counted when the source is unavailable
    own_lockout: bool = False  # True: a "locked" answer is this provider's own lock, counted as a failure


def _ldap_connector() -> Connector:
    connector = ldap.get_connector()
    if connector is None:  # not configured: the source is not offered (see available)
        raise SourceUnavailable("LDAP is not configured")
    return connector


def _ldap_settings(cfg: Config) -> ldap_settings.LdapSettings | None:
    return ldap_settings.resolve_settings(cfg.values) if cfg["LDAP_URLS"] else None


SOURCES: tuple[Source, ...] = (
    Source(
        name=citizen.SOURCE,
        label=_l("Citizen (Warga)"),
        account_label=_l("Citizen account (NIK)"),
        identifier_label=_l("NIK or e-mail address of your citizen account"),
        wrong_credentials=_l("The NIK/e-mail or the password is wrong."),
        unavailable=_l("The sign-in service is temporarily unavailable. Please try again in a moment."),
        connector=citizen.CitizenConnector,
        recognizes=citizen.recognizes,
        own_lockout=True,
        dependency="database",  # its accounts are in the database
        # nik_verified / nik_verification: how well the NIK is proven (idp.assurance.NIK_METHODS).
        scopes={"nik": Scope(("nik", "nik_verified", "nik_verification"),
                             _l("Your NIK (national identity number)"))},
    ),
    Source(
        name=ldap.LdapConnector.source,
        label=_l("Staff (Pegawai)"),
        account_label=_l("Staff account (directory)"),
        identifier_label=_l("Staff user name (directory)"),
        wrong_credentials=_l("The user name or the password is wrong."),
        unavailable=_l("The staff directory is not answering right now. Please try again in a few minutes. "
                       "Citizens can still sign in with their NIK or e-mail address."),
        connector=_ldap_connector,
        recognizes=lambda identifier: True,  # anything that is not a NIK or an e-mail address: a user name
        available=lambda: state().config["LDAP"] is not None,
        settings=SettingsHook("LDAP", _ldap_settings),
        provisioning="staff",
        dependency="ldap",
        # Civil servants (from the directory, idp.people.staff): NIP, work unit (OPD), job title, groups, roles.
        scopes={"staff": Scope(("name", "email", "nip", "unit", "title", "groups", "roles"),
                               _l("Your civil-servant details: name, e-mail, NIP, work unit, job title and roles"))},
    ),
)
_BY_NAME = {source.name: source for source in SOURCES}


def names() -> list[str]:
    """Every registered source's name, in the sign-in page's order."""
    return [source.name for source in SOURCES]


def get(name: str) -> Source:
    """The entry of ``name``; KeyError for a name nobody registered."""
    return _BY_NAME[name]


def find(name: str | None) -> Source | None:
    """The entry of ``name``, or None (a stored name of a source no longer registered)."""
    return _BY_NAME.get(name or "")


def available() -> list[Source]:
    """The sources offered now (staff only when a directory is configured), in the sign-in page's order."""
    return [source for source in SOURCES if source.available()]


def connector(name: str) -> Connector:
    """The connector of ``name`` (raises :class:`SourceUnavailable` when it is not configured)."""
    return get(name).connector()


def account_labels() -> dict[str, Any]:
    """``{name: account label}`` for the account, admin and session pages."""
    return {source.name: source.account_label for source in SOURCES}


def scopes() -> dict[str, Scope]:
    """The scopes the sources contribute, in registry order."""
    return {name: scope for source in SOURCES for name, scope in source.scopes.items()}


def resolve_settings(cfg: Config) -> Config:
    """Run every source's settings hook on ``cfg`` (start-up; raises ConfigError) and return ``cfg``."""
    for source in SOURCES:
        if source.settings is not None:
            cfg.values[source.settings.key] = source.settings.resolve(cfg)
    return cfg
