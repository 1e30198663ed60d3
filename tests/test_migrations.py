"""The Alembic migrations build exactly the schema of the models, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import flask_migrate
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from idp import create_app
from idp.models import db
from tests import services


# migrations/env.py (lead) still calls Flask-SQLAlchemy's deprecated get_engine(); tolerated until fixed.
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_upgrade_matches_models_and_downgrade(backend: str, tmp_path: Path, postgres_admin_url: str) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'migrate.db'}"
    else:
        url = services.create_database(postgres_admin_url, f"idp_migrate_{os.getpid()}")
    app = create_app({"INSTANCE_DIR": str(tmp_path / "instance"), "DATABASE_URL": url, "LOG_LEVEL": "WARNING"})
    with app.app_context():
        try:
            flask_migrate.upgrade()
            with db.engine.connect() as conn:
                ctx = MigrationContext.configure(conn, opts={"compare_type": True})
                diff = compare_metadata(ctx, db.metadata)
            assert diff == [], f"migrations differ from the models: {diff}"
            flask_migrate.downgrade(revision="base")
            names = set(inspect(db.engine).get_table_names()) - {"alembic_version"}
            assert names == set()
        finally:
            db.session.remove()
            db.engine.dispose()
            app.extensions["idp"].store.close()
