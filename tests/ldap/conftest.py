"""Fixtures for the LDAP tests: real slapd instances (started once per run), connectors and apps using them."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from idp import config, sources
from idp.sources.ldap import LdapConnector, get_connector

from . import slapd as slapd_module
from .slapd import GROUPS, PEOPLE, SERVICE_DN, SERVICE_PASSWORD, Certs, Slapd

ADMINS_GROUP = f"cn=idp-admins,{GROUPS}"
STAFF_GROUP = f"cn=pegawai,{GROUPS}"
BUDI = ("budi", "Budi-Pass-2026")
SITI = ("siti", "Siti-Pass-2026")


@pytest.fixture(scope="session")
def ldap_certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return slapd_module.make_certs(tmp_path_factory.mktemp("ldap-certs"))


@pytest.fixture(scope="session")
def slapd_main(ldap_certs: Certs) -> Iterator[Slapd]:
    """The directory most tests use: slapd's default (refuses a DN with an empty password), ldap + ldaps."""
    server = slapd_module.start_slapd(certs=ldap_certs)
    yield server
    server.destroy()


@pytest.fixture(scope="session")
def slapd_permissive() -> Iterator[Slapd]:
    """A directory with ``allow bind_anon_dn``: a DN with an empty password binds anonymously."""
    server = slapd_module.start_slapd(allow_bind_anon_dn=True)
    yield server
    server.destroy()


@pytest.fixture
def slapd_spare() -> Iterator[Slapd]:
    """A throwaway directory this test may stop and restart."""
    server = slapd_module.start_slapd()
    yield server
    server.destroy()


def ldap_settings(urls: list[str], **overrides: Any) -> dict[str, Any]:
    """Settings for a connector or app against the test directories (plain ldap:// allowed unless overridden)."""
    settings: dict[str, Any] = {
        "LDAP_URLS": urls, "LDAP_ALLOW_PLAINTEXT": True, "LDAP_BIND_DN": SERVICE_DN,
        "LDAP_BIND_PASSWORD": SERVICE_PASSWORD, "LDAP_USER_BASE": PEOPLE, "LDAP_ATTR_DISABLED": "employeeType",
        "LDAP_GROUP_ROLES": f"{ADMINS_GROUP}=admin", "LDAP_CONNECT_TIMEOUT": 2, "LDAP_RECEIVE_TIMEOUT": 2,
        # budi (an admin) signs in with the password alone in the directory tests; the rule that
        # administrators need a second factor (the default) has its own tests in tests/test_mfa_*.py.
        "MFA_REQUIRED_ROLES": [],
    }
    settings.update(overrides)
    return settings


@pytest.fixture
def make_connector(tmp_path: Path) -> Iterator[Callable[..., LdapConnector]]:
    """Build a connector from settings (validated by the real settings table)."""
    made: list[LdapConnector] = []

    def factory(urls: list[str], **overrides: Any) -> LdapConnector:
        cfg = sources.resolve_settings(config.load(
            {"INSTANCE_DIR": str(tmp_path / "instance"), **ldap_settings(urls, **overrides)}, environ={}))
        connector = LdapConnector(cfg["LDAP"])
        made.append(connector)
        return connector

    yield factory
    for connector in made:
        connector.close()


@pytest.fixture
def connector(make_connector: Callable[..., LdapConnector], slapd_main: Slapd) -> LdapConnector:
    return make_connector([slapd_main.url])


@pytest.fixture
def ldap_app(make_app: Callable[..., Flask], slapd_main: Slapd) -> Iterator[Callable[..., Flask]]:
    """``make_app`` with the directory settings (PostgreSQL + Redis); connectors are closed afterwards."""
    apps: list[Flask] = []

    def factory(urls: list[str] | None = None, **overrides: Any) -> Flask:
        app = make_app(**ldap_settings(urls or [slapd_main.url], **overrides))
        apps.append(app)
        return app

    yield factory
    for app in apps:
        found = get_connector(app)
        if found is not None:
            found.close()


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


class HungServer:
    """A TCP listener that accepts connections and never answers (a hung directory server)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    def _run(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                continue
            self.accepted.append(conn)  # keep it open, read nothing, answer nothing

    def close(self) -> None:
        self._stop = True
        self.thread.join(2)
        for conn in self.accepted:
            conn.close()
        self.sock.close()


@pytest.fixture
def hung_server() -> Iterator[HungServer]:
    server = HungServer()
    yield server
    server.close()


def closed_port_url() -> str:
    """An ldap:// URL on which nothing listens (connection refused at once)."""
    from tests.services import free_port

    return f"ldap://127.0.0.1:{free_port()}"


def wait_since(server: Slapd, seconds: float) -> None:
    """Sleep until ``seconds`` have passed since ``server`` was seeded (ppolicy ages count in seconds)."""
    remaining = server.started_at + seconds - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)
