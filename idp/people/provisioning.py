"""Provisioning: the person behind an identity a source proved, by the source's ``provisioning`` name.

The source registry (:mod:`idp.sources.registry`) names each source's provisioning; the functions that
write people live here in ``people`` (``sources`` must not import ``people``).  ``"person"`` finds or makes
the person through the identity link (:func:`idp.people.identity.person_for`); ``"staff"`` does the same and
keeps the directory record the ``staff`` claims read (:func:`idp.people.staff.provision`).  A new source
uses ``"person"`` unless it keeps a record of its own beside the person: then it adds a name here.
"""

from __future__ import annotations

from collections.abc import Callable

from idp import sources
from idp.models import Person
from idp.people import identity, staff
from idp.sources.base import Identity

PROVISIONERS: dict[str, Callable[[Identity], Person]] = {
    "person": identity.person_for,
    "staff": staff.provision,
}


def provision(proved: Identity) -> Person:
    """The person behind ``proved`` (made on first sign-in), with the source's own records refreshed."""
    return PROVISIONERS[sources.get(proved.source).provisioning](proved)
