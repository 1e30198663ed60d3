"""Person resolution: (source, subject) -> one person with a random sub; profile refreshed."""

from __future__ import annotations

from sqlalchemy import func, select

from idp import assurance
from idp.extensions import db
from idp.models import IdentityLink, Person
from idp.people import identity
from idp.sources.base import BadCredentials, Identity


def staff(**attrs) -> Identity:
    return Identity(source="ldap", subject="5f0c-uuid", acr=assurance.STAFF, amr=["pwd"],
                    attributes={"name": "Andi", "email": "andi@bantenprov.go.id", "email_verified": True,
                                "birthdate": "1980-01-02", **attrs})


def test_first_sign_in_creates_a_person_then_finds_it(app):
    with app.app_context():
        first = identity.person_for(staff())
        db.session.commit()
        assert len(first.sub) >= 40 and "5f0c" not in first.sub
        assert first.name == "Andi" and first.email_verified is True
        assert str(first.birthdate) == "1980-01-02"
        again = identity.person_for(staff(name="Andi Wijaya", birthdate="not a date"))
        db.session.commit()
        assert again.id == first.id and again.sub == first.sub
        assert again.name == "Andi Wijaya" and again.birthdate is None
        assert db.session.execute(select(func.count(Person.id))).scalar_one() == 1
        link = db.session.execute(select(IdentityLink)).scalar_one()
        assert link.last_login_at is not None


def test_same_subject_of_another_source_is_another_person(app):
    with app.app_context():
        a = identity.person_for(staff())
        b = identity.person_for(Identity(source="citizen-other", subject="5f0c-uuid", acr=assurance.CITIZEN,
                                         amr=["pwd"], attributes={}))
        db.session.commit()
        assert a.id != b.id and a.sub != b.sub


def test_bad_credentials_reasons():
    assert BadCredentials("disabled").reason == "disabled"
    assert BadCredentials("something odd").reason == "invalid"
    assert BadCredentials().reason == "invalid"
    assert BadCredentials("unverified", person_id=3).context == {"person_id": 3}
