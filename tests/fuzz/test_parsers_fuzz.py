"""Property-based tests of the NIK and NIP parsers: they never raise, and valid numbers round-trip."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from idp.sources import nik, nip

TODAY = dt.date(2026, 6, 1)
FAST = settings(max_examples=400, deadline=None)

# Hostile input: any text (NUL, RTL marks, non-ASCII digits, surrogate-free unicode), digit soup with
# separators, and non-strings (the parsers take ``object``: form libraries hand over None or lists).
texts = st.one_of(
    st.text(max_size=80),
    st.text(alphabet="0123456789 .-\t\u0660\uff10\x00", max_size=80),
    st.from_regex(r"\A[0-9]{14,20}\Z"),
)
others = st.one_of(st.none(), st.integers(), st.binary(max_size=20), st.lists(st.text(max_size=5), max_size=3),
                   st.floats(allow_nan=True))


def _valid_nik(draw: st.DrawFn) -> tuple[str, dt.date, str]:
    province = draw(st.sampled_from(sorted(nik.PROVINCES)))
    regency = draw(st.integers(1, 99))
    district = draw(st.integers(1, 99))
    born = draw(st.dates(min_value=TODAY.replace(year=TODAY.year - 99) + dt.timedelta(days=1), max_value=TODAY))
    sex = draw(st.sampled_from([nik.MALE, nik.FEMALE]))
    serial = draw(st.integers(1, 9999))
    day = born.day + (40 if sex == nik.FEMALE else 0)
    value = f"{province:02d}{regency:02d}{district:02d}{day:02d}{born.month:02d}{born.year % 100:02d}{serial:04d}"
    return value, born, sex


valid_niks = st.composite(_valid_nik)()


@FAST
@given(st.one_of(texts, others))
def test_nik_parse_never_raises(raw: object) -> None:
    result = nik.parse(raw, today=TODAY)
    assert isinstance(result, (nik.Nik, list))
    if isinstance(result, list):
        assert result and all(isinstance(f, nik.Failure) for f in result)
    assert nik.is_valid(raw, today=TODAY) == isinstance(result, nik.Nik)
    nik.looks_like_nik(raw)
    masked = nik.mask(raw)
    # The mask never reveals the whole number (NIK never logged in clear).
    if isinstance(raw, str) and len(raw) >= 16:
        assert masked != raw


@FAST
@given(valid_niks, st.sampled_from(["", " ", ".", "-"]))
def test_valid_nik_round_trips(case: tuple[str, dt.date, str], sep: str) -> None:
    value, born, sex = case
    typed = sep.join([value[:4], value[4:6], value[6:12], value[12:]])
    parsed = nik.parse(typed, today=TODAY)
    assert isinstance(parsed, nik.Nik), (typed, parsed)
    assert parsed.value == value
    assert parsed.birthdate == born
    assert parsed.sex == sex
    assert nik.parse(parsed.value, today=TODAY) == parsed


@st.composite
def valid_nips(draw: st.DrawFn) -> tuple[str, dt.date, tuple[int, int], str]:
    born = draw(st.dates(min_value=dt.date(nip.EARLIEST_YEAR, 1, 1), max_value=TODAY))
    first = (born.year, born.month)
    months = (TODAY.year * 12 + TODAY.month) - (first[0] * 12 + first[1] - 1)
    offset = draw(st.integers(0, months - 1))
    index = first[0] * 12 + first[1] - 1 + offset
    appointment = (index // 12, index % 12 + 1)
    sex_digit = draw(st.sampled_from(["1", "2"]))
    serial = draw(st.integers(1, 999))
    value = f"{born:%Y%m%d}{appointment[0]:04d}{appointment[1]:02d}{sex_digit}{serial:03d}"
    return value, born, appointment, nip.SEXES[sex_digit]


@FAST
@given(st.one_of(texts, others))
def test_nip_parse_never_raises(raw: object) -> None:
    result = nip.parse(raw, today=TODAY)
    assert isinstance(result, (nip.Nip, list))
    if isinstance(result, list):
        assert result and all(isinstance(f, nik.Failure) for f in result)
    assert nip.is_valid(raw, today=TODAY) == isinstance(result, nip.Nip)


@FAST
@given(valid_nips())
def test_valid_nip_round_trips(case: tuple[str, dt.date, tuple[int, int], str]) -> None:
    value, born, appointment, sex = case
    parsed = nip.parse(value, today=TODAY)
    assert isinstance(parsed, nip.Nip), (value, parsed)
    assert (parsed.value, parsed.birthdate, parsed.appointment, parsed.sex) == (value, born, appointment, sex)
    again = nip.parse(parsed.formatted, today=TODAY)
    assert again == parsed
