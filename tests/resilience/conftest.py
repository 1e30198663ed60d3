"""Fixtures for outage tests: private Redis/PostgreSQL servers the tests stop and start themselves."""

from __future__ import annotations

from tests.oauth.conftest import make_rp, oauth_app  # noqa: F401 - fixtures shared with the protocol tests
