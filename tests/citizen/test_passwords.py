"""argon2id hashing with the settings' parameters, verification that never raises, rehash detection,
and the password policy (length, common passwords, personal data; no composition rules)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idp import passwords


@pytest.fixture
def ctx(app):
    with app.test_request_context():
        yield app


def test_hash_uses_argon2id_with_the_settings(ctx):
    stored = passwords.hash("kopi tubruk di pagi hari")
    assert stored.startswith("$argon2id$v=19$m=7168,t=1,p=1$")
    assert passwords.verify(stored, "kopi tubruk di pagi hari")
    assert not passwords.verify(stored, "kopi tubruk di pagi har")
    assert not passwords.needs_rehash(stored)


def test_owasp_defaults(make_app):
    from idp.config import SETTINGS_BY_NAME

    assert SETTINGS_BY_NAME["ARGON2_TIME_COST"].default == 2
    assert SETTINGS_BY_NAME["ARGON2_MEMORY_KIB"].default == 19456
    assert SETTINGS_BY_NAME["ARGON2_PARALLELISM"].default == 1


def test_parameter_change_needs_rehash(make_app):
    weak = make_app()
    with weak.test_request_context():
        stored = passwords.hash("kopi tubruk di pagi hari")
    strong = make_app(ARGON2_TIME_COST=3)
    with strong.test_request_context():
        assert passwords.needs_rehash(stored)
        assert passwords.verify(stored, "kopi tubruk di pagi hari")  # old hashes still verify


@pytest.mark.parametrize("stored", [None, "", "garbage", "$argon2id$v=19$m=7168,t=1,p=1$bad", "$2b$12$abc"])
def test_unknown_or_malformed_hash_never_verifies_and_never_raises(ctx, stored):
    assert passwords.verify(stored, "anything") is False
    if stored:
        assert passwords.needs_rehash(stored)


def test_unicode_normalisation(ctx):
    stored = passwords.hash("ｋｏｐｉ ｔｕｂｒｕｋ ２０２６")  # full-width
    assert passwords.verify(stored, "kopi tubruk 2026")


@pytest.mark.parametrize(
    ("password", "kwargs", "refused"),
    [
        ("kopi tubruk di pagi hari", {}, False),
        ("aaaaaaaaaaaa", {}, False),  # no composition rules
        ("ÄÖÜ ąę 日本語 ☕ pass", {}, False),
        ("short", {}, True),
        ("123456789", {}, True),
        ("x" * 256, {}, False),
        ("x" * 257, {}, True),
        ("password", {"min_length": 8}, True),
        ("12345678", {"min_length": 8}, True),
        ("indonesia123", {}, True),
        ("Indonesia123", {}, True),
        ("BISMILLAH123", {}, True),
        ("bismillah", {"min_length": 8}, True),
        ("banten123", {"min_length": 8}, True),
        ("sayangku123", {}, True),
        ("qwertyuiop", {}, True),
        ("3603011205900001", {"nik": "3603011205900001"}, True),
        ("my nik 3603011205900001", {"nik": "3603011205900001"}, True),
        ("budi.santoso@example.org", {"email": "budi.santoso@example.org"}, True),
        ("budi.santoso", {"email": "budi.santoso@example.org"}, True),
        ("Budi Santoso", {"name": "budi santoso"}, True),
        ("budisantoso", {"name": "Budi Santoso"}, True),
        ("budi santoso makan sate", {"name": "Budi Santoso"}, False),
        ("with\x00nul inside", {}, True),
    ],
)
def test_policy(ctx, password, kwargs, refused):
    assert bool(passwords.problems(password, **kwargs)) is refused


def test_common_list_is_large_and_lower_case(ctx):
    common = passwords.common_passwords()
    assert len(common) >= 10_000
    assert all(p == p.lower() for p in common)
    for word in ("indonesia123", "bismillah", "banten123", "password", "12345678"):
        assert word in common


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=300))
def test_policy_never_raises(password):
    from flask import Flask

    app = Flask(__name__)
    with app.app_context():
        passwords.problems(password, min_length=10, nik="3603011205900001", email="a@b.c", name="Budi")
