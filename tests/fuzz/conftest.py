"""Fixtures for the endpoint fuzzing: the protocol tests' app, relying party and signed-in person."""

from __future__ import annotations

from tests.oauth.conftest import app, make_rp, oauth_app, rp  # noqa: F401 - fixtures shared with the protocol tests
