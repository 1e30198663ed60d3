"""The NIK parser: valid numbers of men and women, every field-level failure, hostile input, masking."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idp.sources import nik
from idp.sources.nik import FEMALE, MALE, Failure, Nik

TODAY = dt.date(2026, 11, 28)


def fields(result: object) -> list[str]:
    assert isinstance(result, list), result
    return [f.field for f in result]


@pytest.mark.parametrize(
    ("raw", "birthdate", "sex"),
    [
        ("3603011205900001", dt.date(1990, 5, 12), MALE),
        ("3603015205900001", dt.date(1990, 5, 12), FEMALE),
        ("3671010101000001", dt.date(2000, 1, 1), MALE),
        ("3671014101000001", dt.date(2000, 1, 1), FEMALE),
        ("1101013112999999", dt.date(1999, 12, 31), MALE),
        ("9601017112990001", dt.date(1999, 12, 31), FEMALE),
        ("3174052802860123", dt.date(1986, 2, 28), MALE),
        ("3174056902880123", dt.date(1988, 2, 29), FEMALE),  # 1988 is a leap year
        ("3174052902000123", dt.date(2000, 2, 29), MALE),  # 00 -> 2000, a leap year
        ("3174052902240123", dt.date(2024, 2, 29), MALE),
        ("5171012811260001", dt.date(2026, 11, 28), MALE),  # born today
        ("5171012911260001", dt.date(1926, 11, 29), MALE),  # tomorrow in 2026 -> 1926
        ("5171016812250001", dt.date(2025, 12, 28), FEMALE),
        ("6101011506500001", dt.date(1950, 6, 15), MALE),
        ("8201011506500001", dt.date(1950, 6, 15), MALE),
        ("2101011506500001", dt.date(1950, 6, 15), MALE),
        ("1901011506500001", dt.date(1950, 6, 15), MALE),
        ("3601011506500001", dt.date(1950, 6, 15), MALE),
        ("3101011506500001", dt.date(1950, 6, 15), MALE),
        ("7601011506500001", dt.date(1950, 6, 15), MALE),
        ("9101011506500001", dt.date(1950, 6, 15), MALE),
        # separators typed between digit groups
        ("3603 0112 0590 0001", dt.date(1990, 5, 12), MALE),
        ("36.03.01.120590.0001", dt.date(1990, 5, 12), MALE),
        ("3603-01-120590-0001", dt.date(1990, 5, 12), MALE),
        ("  3603011205900001\t", dt.date(1990, 5, 12), MALE),
    ],
)
def test_valid_nik(raw, birthdate, sex):
    result = nik.parse(raw, today=TODAY)
    assert isinstance(result, Nik), [str(f) for f in result]  # type: ignore[union-attr]
    assert result.birthdate == birthdate
    assert result.sex == sex
    assert len(result.value) == 16 and result.value.isascii() and result.value.isdigit()
    assert nik.is_valid(raw, today=TODAY)


@pytest.mark.parametrize("province", [11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 31, 32, 33, 34, 35, 36, 51, 52, 53,
                                      61, 62, 63, 64, 65, 71, 72, 73, 74, 75, 76, 81, 82, 91, 92, 93, 94, 95, 96])
def test_every_official_province_is_accepted(province):
    assert nik.is_valid(f"{province}01011506500001", today=TODAY)


@pytest.mark.parametrize("province", ["00", "10", "20", "22", "30", "37", "50", "54", "60", "66", "70", "77",
                                      "80", "83", "90", "97", "99"])
def test_unknown_province_is_refused(province):
    assert fields(nik.parse(f"{province}01011506500001", today=TODAY)) == ["province"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("3600011205900001", ["regency"]),
        ("3603001205900001", ["district"]),
        ("3603010005900001", ["day"]),
        ("3603013205900001", ["day"]),  # 32: neither a man's nor a woman's day
        ("3603014005900001", ["day"]),  # 40 -> day 0
        ("3603017205900001", ["day"]),  # 72 -> day 32
        ("3603019905900001", ["day"]),
        ("3603011200900001", ["month"]),
        ("3603011213900001", ["month"]),
        ("3603011299900001", ["month"]),
        ("3603013102900001", ["date"]),  # 31 February
        ("3603013104900001", ["date"]),
        ("3603017104900001", ["date"]),  # woman, 31 April
        ("3603012902230001", ["date"]),  # 2023 is not a leap year
        ("3603016902900001", ["date"]),  # woman, 29 February 1990
        ("3603011205900000", ["serial"]),
        ("0000000000000000", ["province", "regency", "district", "day", "month", "serial"]),
        ("9900003213000000", ["province", "regency", "district", "day", "month", "serial"]),
        ("3600001205900000", ["regency", "district", "serial"]),
    ],
)
def test_each_failure_is_reported_for_its_field(raw, expected):
    result = nik.parse(raw, today=TODAY)
    assert fields(result) == expected
    messages = [str(f.message) for f in result]  # type: ignore[union-attr]
    assert len(set(messages)) == len(messages), "each failure has its own message"
    assert all(messages)


def test_twenty_ninth_february_of_a_century_year_resolves_to_2000():
    # 00 -> 2000 (leap, valid).  Before 29 February 2000 the same digits would resolve to 1900, not a
    # leap year, and be refused: the century is chosen first, then the calendar is checked.
    assert nik.parse("3174052902000123", today=TODAY).birthdate == dt.date(2000, 2, 29)  # type: ignore[union-attr]
    assert fields(nik.parse("3174052902000123", today=dt.date(2000, 2, 28))) == ["date"]


@pytest.mark.parametrize(
    ("raw", "field", "code"),
    [
        ("", "nik", "required"),
        ("   ", "nik", "required"),
        (None, "nik", "required"),
        (3603011205900001, "nik", "required"),
        ("360301120590001", "nik", "length"),
        ("36030112059000011", "nik", "length"),
        ("1" * 65, "nik", "length"),
        ("3603O11205900001", "nik", "characters"),  # letter O
        ("3603011205900001x", "nik", "characters"),
        ("٣٦٠٣٠١١٢٠٥٩٠٠٠٠١", "nik", "characters"),  # Arabic-Indic digits
        ("۳۶۰۳۰۱۱۲۰۵۹۰۰۰۰۱", "nik", "characters"),  # Extended Arabic-Indic (Persian) digits
        ("３６０３０１１２０５９０００１", "nik", "characters"),  # full-width digits
        ("३६०३०११२०५९००००१", "nik", "characters"),  # Devanagari digits
        ("3603011205900001\x00", "nik", "characters"),
        ("3603\x0001120590001", "nik", "characters"),
        ("' OR 1=1 --", "nik", "characters"),
        ("3603011205900001'; DROP TABLE citizen_accounts; --", "nik", "characters"),
        ("<script>alert(1)</script>", "nik", "characters"),
        ("3603/0112/0590/0001", "nik", "characters"),
        ("3603_0112_0590_0001", "nik", "characters"),
        ("+3603011205900001", "nik", "characters"),
        ("3603\n011205900001", "nik", "characters"),  # inside: only space and tab count as separators
        ("1e15", "nik", "characters"),
        ("x" * 10_000, "nik", "length"),
        ("3" * 10_000, "nik", "length"),
        ("\u200b3603011205900001", "nik", "characters"),  # zero-width space
        ("3603\u00a0011205900001", "nik", "characters"),  # no-break space
        ("𝟑𝟔𝟎𝟑𝟎𝟏𝟏𝟐𝟎𝟓𝟗𝟎𝟎𝟎𝟎𝟏", "nik", "characters"),  # mathematical bold digits
        ("----------------", "nik", "length"),
    ],
)
def test_hostile_input_gives_one_clear_failure(raw, field, code):
    result = nik.parse(raw, today=TODAY)
    assert isinstance(result, list) and len(result) == 1
    assert (result[0].field, result[0].code) == (field, code)
    assert str(result[0])


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("3603011205900001", "3603********0001"),
        ("3603 0112 0590 0001", "3603********0001"),
        ("123", "****************"),
        ("", "****************"),
        (None, "****************"),
        ("٣٦٠٣٠١١٢٠٥٩٠٠٠٠١", "****************"),
    ],
)
def test_mask(raw, masked):
    assert nik.mask(raw) == masked


def test_nik_object_masks_itself():
    parsed = nik.parse("3603011205900001", today=TODAY)
    assert isinstance(parsed, Nik)
    assert parsed.masked == "3603********0001"
    assert "0112059" not in parsed.masked


def test_looks_like_nik():
    assert nik.looks_like_nik("3603 0112 0590 0001")
    assert not nik.looks_like_nik("budi@example.org")
    assert not nik.looks_like_nik("３６０３０１１２０５９０００１")


def test_default_today_is_used():
    assert nik.is_valid("3603011205900001")


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200))
def test_parser_never_raises_on_any_text(raw):
    result = nik.parse(raw)
    assert isinstance(result, Nik) or (isinstance(result, list) and result and
                                       all(isinstance(f, Failure) and str(f) for f in result))
    nik.mask(raw)
    nik.looks_like_nik(raw)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="0123456789 .-", min_size=0, max_size=40))
def test_parser_never_raises_on_digit_soup(raw):
    result = nik.parse(raw)
    if isinstance(result, Nik):
        assert result.birthdate <= dt.date.today()
        assert result.sex in (MALE, FEMALE)


@settings(max_examples=300, deadline=None)
@given(st.dates(min_value=dt.date(1927, 1, 1), max_value=TODAY), st.booleans(),
       st.sampled_from(sorted(nik.PROVINCES)), st.integers(1, 9999))
def test_any_real_birthdate_round_trips(birthdate, female, province, serial):
    day = birthdate.day + (40 if female else 0)
    raw = f"{province:02d}0101{day:02d}{birthdate.month:02d}{birthdate.year % 100:02d}{serial:04d}"
    result = nik.parse(raw, today=TODAY)
    assert isinstance(result, Nik)
    assert result.birthdate == birthdate
    assert result.sex == (FEMALE if female else MALE)
