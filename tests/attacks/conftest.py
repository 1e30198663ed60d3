"""Fixtures for the attack tests: the directory (slapd), and the app factories of the other suites."""

from __future__ import annotations

from tests.ldap.conftest import ldap_app, ldap_certs, slapd_main  # noqa: F401 - fixtures used by the tests here
from tests.oauth.conftest import make_rp, oauth_app  # noqa: F401 - fixtures used by the tests here

__all__ = ["ldap_app", "ldap_certs", "make_rp", "oauth_app", "slapd_main"]
