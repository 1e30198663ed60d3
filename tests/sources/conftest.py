"""One harness per registered identity source, against the real components (PostgreSQL, Redis, slapd).

The conformance suite (``test_conformance.py``) runs on every name in :func:`idp.sources.names`; a source
registered without a harness here fails the suite with a message naming it.  A harness holds an app
whose registry offers the source, a person who can sign in (made through the source's real code path),
an identifier nobody has, and an app of the same source whose backend does not answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask

from idp import assurance, create_app, sources
from idp.extensions import db
from idp.models import CitizenAccount
from idp.sources.base import Identity
from idp.sources.ldap import get_connector
from tests.citizen.helpers import make_nik, register_and_verify
from tests.conftest import FAST_ARGON2
from tests.ldap.conftest import (  # noqa: F401 - the real slapd fixtures, shared with tests/ldap
    BUDI,
    closed_port_url,
    ldap_app,
    ldap_certs,
    ldap_settings,
    slapd_main,
)
from tests.services import free_port


@dataclass
class Harness:
    """A source under test: a working app and person, and an app whose backend is down."""

    name: str
    app: Flask
    identifier: str
    password: str
    subject: str  # what Identity.subject must be for that person
    acr: str
    unknown_identifier: str
    down: Flask  # the same source, its backend not answering

    def authenticate(self, identifier: str, password: str, *, app: Flask | None = None) -> Identity:
        """The registry's connector of this source, called the way the sign-in page calls it."""
        with (app or self.app).test_request_context("/login", method="POST"):
            try:
                return sources.connector(self.name).authenticate(identifier, password)
            finally:
                db.session.rollback()


@pytest.fixture
def citizen_harness(make_app: Callable[..., Flask], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    """A citizen registered and verified through the real pages, on PostgreSQL; the down app's
    database URL points at a port where nothing listens."""
    app = make_app()
    person = register_and_verify(app.test_client(), nik=make_nik())
    with app.app_context():
        account = db.session.execute(db.select(CitizenAccount).where(CitizenAccount.email == person.email)).scalar_one()
        subject, acr = account.public_id, account.assurance
    down = create_app({"INSTANCE_DIR": str(tmp_path_factory.mktemp("instance-db-down")), "LOG_LEVEL": "ERROR",
                       "BACKCHANNEL_WORKER": False, "JWKS_URI_ALLOW_LOOPBACK": False, **FAST_ARGON2,
                       "DATABASE_URL": f"postgresql+psycopg://idp:idp@127.0.0.1:{free_port()}/idp"})
    yield Harness(name="citizen", app=app, identifier=person.nik, password=person.password, subject=subject,
                  acr=acr, unknown_identifier=make_nik(), down=down)
    with down.app_context():
        db.engine.dispose()
    down.extensions["idp"].store.close()


@pytest.fixture
def ldap_harness(ldap_app: Callable[..., Flask]) -> Harness:  # noqa: F811 - the imported fixture
    """The seeded directory user budi on the real slapd; the down app's only server refuses connections."""
    app = ldap_app()
    with app.app_context():
        connector = get_connector(app)
        assert connector is not None
        entries = connector.find(BUDI[0])
        subject = connector.subject_of(entries[0])
    assert subject
    return Harness(name="ldap", app=app, identifier=BUDI[0], password=BUDI[1], subject=subject, acr=assurance.STAFF,
                   unknown_identifier="tidak-ada-orangnya", down=ldap_app([closed_port_url()]))


# Registered source name -> its harness fixture.  A new source adds one line here (and a fixture above).
HARNESSES = {"citizen": "citizen_harness", "ldap": "ldap_harness"}


@pytest.fixture(params=sources.names())
def harness(request: pytest.FixtureRequest) -> Any:
    """The harness of each registered source in turn."""
    fixture = HARNESSES.get(request.param)
    if fixture is None:
        pytest.fail(f"identity source {request.param!r} is registered (idp.sources.registry) but has no harness in "
                    "tests/sources/conftest.py: add a fixture and a HARNESSES entry so the conformance suite runs "
                    "on it", pytrace=False)
    return request.getfixturevalue(fixture)
