"""The contract every identity source keeps (idp.sources): three outcomes, nothing else.

Runs on every source in the registry (``harness`` is parametrized over :func:`idp.sources.names`), against
the real backend: the right credential proves an :class:`Identity`; a wrong password and an unknown user
are the same :class:`BadCredentials` ("invalid": no enumeration); an empty password is refused without
asking the backend (an empty password is an anonymous bind on many directories); hostile identifiers
are refused as bad credentials, never with another exception; a backend that does not answer is
:class:`SourceUnavailable` (the sign-in page's 503).
"""

from __future__ import annotations

import pytest

from idp import assurance, sources
from idp.sources.base import BadCredentials, Identity, SourceUnavailable

from .conftest import Harness


def test_every_source_is_offered_by_its_harness_app(harness: Harness) -> None:
    with harness.app.app_context():
        assert harness.name in [source.name for source in sources.available()]


def test_the_right_credential_proves_an_identity(harness: Harness) -> None:
    proved = harness.authenticate(harness.identifier, harness.password)
    assert isinstance(proved, Identity)
    assert proved.source == harness.name
    assert proved.subject == harness.subject
    assert proved.acr == harness.acr and proved.acr.startswith(assurance.PREFIX)
    assert proved.amr == [assurance.AMR_PASSWORD]
    again = harness.authenticate(harness.identifier, harness.password)
    assert again.subject == proved.subject  # stable: the same person is the same subject


def test_wrong_password_and_unknown_user_are_the_same_answer(harness: Harness) -> None:
    with pytest.raises(BadCredentials) as wrong:
        harness.authenticate(harness.identifier, harness.password + "x")
    with pytest.raises(BadCredentials) as unknown:
        harness.authenticate(harness.unknown_identifier, harness.password)
    assert wrong.value.reason == unknown.value.reason == "invalid"
    assert str(wrong.value.reason) == str(unknown.value.reason)


@pytest.mark.parametrize("backend", ["answering", "down"])
def test_an_empty_password_is_refused_without_asking_the_backend(harness: Harness, backend: str) -> None:
    """On the down backend, reaching it would be SourceUnavailable: BadCredentials proves it was not asked."""
    app = harness.app if backend == "answering" else harness.down
    with pytest.raises(BadCredentials) as refused:
        harness.authenticate(harness.identifier, "", app=app)
    assert refused.value.reason == "invalid"


HOSTILE_IDENTIFIERS = {
    "very long": "a" * 100_000,
    "very long digits": "3" * 10_000,
    "NUL": "budi\x00",
    "NUL inside": "bu\x00di",
    "control characters": "budi\r\n\t\x1b[31m",
    "filter wildcard": "*",
    "filter wildcard suffix": "bud*",
    "filter injection": "*)(uid=*))(|(uid=*",
    "filter parentheses": "budi)(objectClass=*)",
    "backslash escape": "budi\\2a",
    "backslash": "\\",
    "DN injection": "cn=admin,dc=bantenprov,dc=go,dc=id",
    "cyrillic look-alike": "bud\u0456",
    "zero-width joiner": "bu\u200ddi",
    "right-to-left override": "\u202eidub",
    "whitespace only": " \t ",
    "empty": "",
    "lone surrogate": "budi\ud800",
    "surrogate pair halves": "\udfff\ud83d",
    "e-mail with NUL": "warga\x00@example.org",
    "e-mail wildcard": "*@*",
    "NIK with letters": "3603O15501900001",
    "NIK Arabic-Indic digits": "".join(chr(0x0660 + int(d)) for d in "3603015501900001"),
    "SQL": "' OR '1'='1' --",
    "percent": "%",
}


@pytest.mark.parametrize("identifier", list(HOSTILE_IDENTIFIERS.values()), ids=list(HOSTILE_IDENTIFIERS))
def test_hostile_identifiers_are_bad_credentials(harness: Harness, identifier: str) -> None:
    """Tried with the real person's password: a wildcard or look-alike must not find that person."""
    with pytest.raises(BadCredentials) as refused:
        harness.authenticate(identifier, harness.password)
    assert refused.value.reason == "invalid"


@pytest.mark.parametrize("password", ["\x00", "pass\x00word", "x" * 100_000, "\ud800", " "],
                         ids=["NUL", "NUL inside", "very long", "lone surrogate", "one space"])
def test_hostile_passwords_are_bad_credentials(harness: Harness, password: str) -> None:
    with pytest.raises(BadCredentials) as refused:
        harness.authenticate(harness.identifier, password)
    assert refused.value.reason == "invalid"


def test_a_backend_that_does_not_answer_is_unavailable(harness: Harness) -> None:
    with pytest.raises(SourceUnavailable):
        harness.authenticate(harness.identifier, harness.password, app=harness.down)


def test_every_source_names_known_provisioning() -> None:
    """The registry names each source's provisioning; people/ must know every name (idp.people.provisioning)."""
    from idp.people.provisioning import PROVISIONERS

    for source in sources.SOURCES:
        assert source.provisioning in PROVISIONERS, source.name
