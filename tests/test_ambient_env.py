"""The suite does not read the shell's provider settings: with ``IDP_ISSUER`` and friends exported (as an
operator who just ran the provider has), every app the tests build sees the defaults and the tests'
own overrides only (tests/conftest.py clears them at start; subprocesses get services.clean_environ())."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from idp import create_app
from idp.config import SETTINGS
from idp.extensions import db

from . import services

ROOT = Path(__file__).resolve().parent.parent
# Each would change or break what the tests expect if it reached create_app.
HOSTILE = {"IDP_ISSUER": "http://example.invalid", "IDP_JWKS_URI_ALLOW_LOOPBACK": "1", "IDP_CODE_TTL": "42",
           "IDP_ENV": "production", "IDP_LOG_LEVEL": "ERROR", "IDP_MFA_REQUIRED_ROLES": "",
           "IDP_LOGIN_MAX_FAILURES": "999", "IDP_REDIS_URL": "redis://example.invalid:1"}
# Settings that start-up fills in or derives (paths, development secrets, "auto" switches that follow the
# issuer), so they differ from the default.
DERIVED = {"INSTANCE_DIR", "OUTBOX_DIR", "DATABASE_URL", "SECRET_KEY", "HASH_KEY", "DATA_KEYS",
           "JWKS_URI_ALLOW_LOOPBACK", "PASSKEY_RP_ID"}


def test_no_provider_setting_in_the_environment() -> None:
    assert services.ambient_settings() == []
    assert services.ambient_settings(services.clean_environ()) == []


def test_create_app_sees_only_defaults(tmp_path: Path) -> None:
    app = create_app({"INSTANCE_DIR": str(tmp_path)})
    cfg = app.extensions["idp"].config
    try:
        changed = {s.name: cfg[s.name] for s in SETTINGS if s.name not in DERIVED and cfg[s.name] != s.default}
        assert changed == {}
    finally:
        with app.app_context():
            db.engine.dispose()  # also stops the app's back-channel delivery thread
        app.extensions["idp"].store.close()


def test_exported_settings_do_not_reach_the_tests(tmp_path: Path) -> None:
    """The two tests above, in a pytest run started with hostile settings exported."""
    env = {**os.environ, **HOSTILE}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             f"{Path(__file__).relative_to(ROOT)}::test_no_provider_setting_in_the_environment",
                             f"{Path(__file__).relative_to(ROOT)}::test_create_app_sees_only_defaults"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "2 passed" in result.stdout
