"""Identity sources: who can sign in, and how the credential is checked (citizen accounts, the staff directory).

The interface every source implements (from :mod:`idp.sources.base`): a :class:`Connector` whose
``authenticate(identifier, password)`` answers one of three outcomes: an :class:`Identity` (what it
proved), :class:`BadCredentials` (``reason`` "invalid" for a wrong password AND an unknown user: no
enumeration) or :class:`SourceUnavailable` (the sign-in page answers 503).  :mod:`idp.sources.registry`
lists the sources; the rest of ``idp`` reads that list and never names a source.

To add a source:

1. write ``idp/sources/<name>.py`` with a connector class (``source = "<name>"``, ``authenticate``); refuse an
   empty password before reaching the backend, map every backend error to the three outcomes;
2. add one :class:`Source` entry to ``SOURCES`` in :mod:`idp.sources.registry` (labels, connector factory,
   ``available``, settings hook, provisioning, scopes); settings themselves go in :mod:`idp.config`'s table;
3. add its fixture to ``tests/sources/conftest.py``: the conformance suite (``tests/sources/``) then runs on it
   and fails, naming the source, until the fixture exists.

Modules: ``base`` (the interface), ``registry``, ``citizen`` (NIK accounts), ``ldap`` (directory sign-in),
``ldap_connection`` (TLS, server pool, service connections), ``ldap_settings`` (``IDP_LDAP_*`` parsing),
``nik`` and ``nip`` (pure parsers of the national identity and civil-servant numbers).
"""

from __future__ import annotations

from idp.sources.base import REASONS, BadCredentials, Connector, Identity, SourceUnavailable
from idp.sources.registry import (
    SOURCES,
    Scope,
    SettingsHook,
    Source,
    account_labels,
    available,
    connector,
    find,
    get,
    names,
    resolve_settings,
    scopes,
)

__all__ = ["REASONS", "SOURCES", "BadCredentials", "Connector", "Identity", "Scope", "SettingsHook", "Source",
           "SourceUnavailable", "account_labels", "available", "connector", "find", "get", "names",
           "resolve_settings", "scopes"]
