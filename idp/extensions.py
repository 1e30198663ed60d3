"""Unbound Flask extensions, bound in :func:`idp.create_app`, and the one accessor of the per-app state.

Code that needs a setting, the store or the crypto helper calls :func:`state` (or :func:`setting`)
instead of reaching into ``current_app.extensions`` itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app
from flask_babel import Babel
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

if TYPE_CHECKING:  # the types only: config, store and crypto import nothing from here at run time
    from idp.config import Config
    from idp.crypto import Crypto
    from idp.store.base import Store


class Base(DeclarativeBase):
    # Stable constraint names make Alembic migrations identical on SQLite and PostgreSQL.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
babel = Babel()


@dataclass
class State:
    """Per-application state kept in ``app.extensions['idp']``."""

    config: Config
    store: Store
    crypto: Crypto
    extra: dict[str, Any]


def state(app: Flask | None = None) -> State:
    """The provider's state of ``app`` (default: the current application)."""
    found: State = (app or current_app).extensions["idp"]
    return found


def setting(name: str) -> Any:
    """One validated setting of the current application (``IDP_<name>``, :mod:`idp.config`)."""
    return state().config[name]
