"""The NIP parser: valid numbers, every field-level failure, hostile input, and property tests."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idp.sources import nip
from idp.sources.nip import FEMALE, MALE, Nip

TODAY = dt.date(2026, 11, 28)


def fields(result: object) -> list[str]:
    assert isinstance(result, list), result
    return [f.field for f in result]


@pytest.mark.parametrize(
    ("raw", "birthdate", "appointment", "sex", "serial"),
    [
        ("198503152010011002", dt.date(1985, 3, 15), (2010, 1), MALE, "002"),
        ("199002202015032001", dt.date(1990, 2, 20), (2015, 3), FEMALE, "001"),
        ("196912311990121999", dt.date(1969, 12, 31), (1990, 12), MALE, "999"),
        ("198802292019022010", dt.date(1988, 2, 29), (2019, 2), FEMALE, "010"),  # leap day
        ("200002292024011001", dt.date(2000, 2, 29), (2024, 1), MALE, "001"),  # 2000 is a leap year
        ("200311282026111001", dt.date(2003, 11, 28), (2026, 11), MALE, "001"),  # appointed this month
        ("190001011920011001", dt.date(1900, 1, 1), (1920, 1), MALE, "001"),
        ("200501012006011001", dt.date(2005, 1, 1), (2006, 1), MALE, "001"),  # young: not refused
    ],
)
def test_valid_nip(raw, birthdate, appointment, sex, serial):
    result = nip.parse(raw, today=TODAY)
    assert isinstance(result, Nip), [str(f) for f in result]  # type: ignore[union-attr]
    assert (result.birthdate, result.appointment, result.sex, result.serial) == (birthdate, appointment, sex, serial)
    assert result.value == raw
    assert nip.is_valid(raw, today=TODAY)


@pytest.mark.parametrize(
    "raw",
    ["19850315 201001 1 002", "19850315.201001.1.002", "19850315-201001-1-002", " 198503152010011002\t"],
)
def test_written_forms_are_accepted(raw):
    result = nip.parse(raw, today=TODAY)
    assert isinstance(result, Nip) and result.value == "198503152010011002"
    assert result.formatted == "19850315 201001 1 002"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", ["nip"]),
        ("   ", ["nip"]),
        (None, ["nip"]),
        (198503152010011002, ["nip"]),
        ("19850315201001100", ["nip"]),  # 17 digits
        ("1985031520100110021", ["nip"]),  # 19 digits
        ("1985031520100110O2", ["nip"]),  # letter O
        ("１９８５０３１５２０１００１１００２", ["nip"]),  # full-width digits
        ("١٩٨٥٠٣١٥٢٠١٠٠١١٠٠٢", ["nip"]),  # Arabic-Indic digits
        ("198503152010011002\x00", ["nip"]),
        ("1985/03/15 2010 01 1 002", ["nip"]),
        ("1" * 65, ["nip"]),
        ("198502302010011002", ["birthdate"]),  # 30 February
        ("198513012010011002", ["birthdate"]),  # month 13
        ("198500102010011002", ["birthdate"]),  # month 00
        ("198501002010011002", ["birthdate"]),  # day 00
        ("190002292010011002", ["birthdate"]),  # 1900 is not a leap year
        ("189912312010011002", ["birthdate"]),  # before 1900
        ("202612012026121002", ["birthdate", "appointment"]),  # born in the future, appointed next month
        ("198503152010001002", ["appointment"]),  # month 00
        ("198503152010131002", ["appointment"]),  # month 13
        ("198503152026121002", ["appointment"]),  # next month
        ("198503151985021002", ["appointment"]),  # before the birth month
        ("198503151899121002", ["appointment"]),
        ("198503152010013002", ["sex"]),
        ("198503152010010002", ["sex"]),
        ("198503152010019002", ["sex"]),
        ("198503152010011000", ["serial"]),
        ("198502302010133000", ["birthdate", "appointment", "sex", "serial"]),  # everything at once
    ],
)
def test_invalid_nip_names_each_faulty_field(raw, expected):
    result = nip.parse(raw, today=TODAY)
    assert fields(result) == expected
    assert all(str(f) for f in result)  # type: ignore[union-attr] - every failure has its own message
    assert not nip.is_valid(raw, today=TODAY)


def test_messages_name_the_digits():
    result = nip.parse("198503152010011000", today=TODAY)
    assert "16-18" in str(result[0])  # type: ignore[index]
    result = nip.parse("12345", today=TODAY)
    assert "18" in str(result[0]) and "you entered 5" in str(result[0])  # type: ignore[index]


@st.composite
def valid_nips(draw: st.DrawFn) -> str:
    birth = draw(st.dates(min_value=dt.date(1900, 1, 1), max_value=TODAY))
    ay = draw(st.integers(min_value=birth.year, max_value=TODAY.year))
    low = birth.month if ay == birth.year else 1
    high = TODAY.month if ay == TODAY.year else 12
    if low > high:
        ay, low, high = birth.year, birth.month, birth.month
    am = draw(st.integers(min_value=low, max_value=high))
    sex = draw(st.sampled_from("12"))
    serial = draw(st.integers(min_value=1, max_value=999))
    return f"{birth:%Y%m%d}{ay:04d}{am:02d}{sex}{serial:03d}"


@settings(max_examples=300, deadline=None)
@given(valid_nips())
def test_every_well_formed_nip_parses_back(raw):
    result = nip.parse(raw, today=TODAY)
    assert isinstance(result, Nip), (raw, [str(f) for f in result])  # type: ignore[union-attr]
    assert result.value == raw and f"{result.birthdate:%Y%m%d}" == raw[:8]
    assert result.sex == (MALE if raw[14] == "1" else FEMALE)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=80), st.from_regex(r"\A[0-9 .-]{0,30}\Z"), st.none(), st.integers()))
def test_parse_never_raises(raw):
    result = nip.parse(raw, today=TODAY)
    assert isinstance(result, Nip) or (isinstance(result, list) and result)


@settings(max_examples=300, deadline=None)
@given(valid_nips(), st.integers(min_value=0, max_value=17), st.sampled_from("0123456789"))
def test_single_digit_changes_are_parsed_without_error(raw, index, digit):
    changed = raw[:index] + digit + raw[index + 1:]
    result = nip.parse(changed, today=TODAY)
    assert isinstance(result, Nip) or all(f.field in {"birthdate", "appointment", "sex", "serial"} for f in result)
