"""Parser and validator of the NIK (Nomor Induk Kependudukan), the 16-digit national number; no I/O.

Layout (Permendagri on population administration)::

    PP KK CC DDMMYY SSSS
    |  |  |  |      +-- serial, 0001-9999
    |  |  |  +--------- birth date; women add 40 to the day (41-71)
    |  |  +------------ district (kecamatan), not 00
    |  +--------------- regency / city (kabupaten / kota), not 00
    +------------------ province (official codes 11-19, 21, 31-36, 51-53, 61-65, 71-76, 81-82, 91-96)

Century of the two-digit year: the latest century that does not put the birth date in the future
(``today`` in 2026: ``251231`` -> 1925-12-31 only if 2025-12-31 were in the future; it is not, so 2025).
The century is chosen from (year, month, day) *before* the date is checked as a calendar date, so
29 February is valid exactly when the resolved year is a leap year: ``290200`` resolves to 2000 (a
leap year, valid); 1900 would not be a leap year, but the resolution never picks 1900 for ``00``
while 29 February 2000 lies in the past.  For every other two-digit year both centuries agree on
leap years, so the resolution cannot change whether 29 February is valid.

:func:`parse` never raises: it returns a :class:`Nik` or a list of :class:`Failure` (one per faulty
field, each with its own message).  Spaces, dots and dashes typed between digit groups are ignored;
any other character (letters, Arabic-Indic or full-width digits, NUL ...) is an error.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l

LENGTH = 16
# Characters people type between digit groups ("3603 0112 ...", "3603.01.12...", "3603-...").
SEPARATORS = frozenset(" \t.-")
ASCII_DIGITS = frozenset("0123456789")
# Longer input is refused before any other work (a NIK with generous separators stays far below).
MAX_INPUT = 64

PROVINCES: frozenset[int] = frozenset(
    [*range(11, 20), 21, *range(31, 37), *range(51, 54), *range(61, 66), *range(71, 77), 81, 82,
     *range(91, 97)]
)

MALE = "male"  # OIDC Core 5.1 ``gender`` values
FEMALE = "female"


@dataclass(frozen=True)
class Nik:
    """A structurally valid NIK and what it tells."""

    value: str  # 16 ASCII digits
    province: str
    regency: str
    district: str
    birthdate: dt.date
    sex: str  # "male" | "female"
    serial: str

    @property
    def masked(self) -> str:
        return mask(self.value)


@dataclass(frozen=True)
class Failure:
    """One faulty part of a NIK or NIP: ``field`` names the part, ``message`` is shown to the person."""

    field: str  # NIK: nik province regency district day month date serial; NIP: nip birthdate appointment sex serial
    code: str
    message: Any  # a lazy translated string

    def __str__(self) -> str:
        return str(self.message)


def normalize(raw: object) -> str | None:
    """The 16 (or other number of) ASCII digits of ``raw`` without separators; None if anything else."""
    if not isinstance(raw, str) or len(raw) > MAX_INPUT:
        return None
    digits = []
    for ch in raw.strip():
        if ch in ASCII_DIGITS:
            digits.append(ch)
        elif ch not in SEPARATORS:
            return None
    return "".join(digits)


def resolve_year(yy: int, month: int, day: int, today: dt.date) -> int:
    """The four-digit year: 20yy unless that puts (month, day) after ``today``, then 19yy."""
    year = 2000 + yy
    if (year, month, day) > (today.year, today.month, today.day):
        year -= 100
    return year


def parse(raw: object, *, today: dt.date | None = None) -> Nik | list[Failure]:
    """Parse and validate ``raw``; a :class:`Nik`, or the list of every failure found."""
    if not isinstance(raw, str) or not raw.strip():
        return [Failure("nik", "required", _l("Enter your NIK (16 digits)."))]
    if len(raw) > MAX_INPUT:
        return [Failure("nik", "length", _l("The NIK has exactly 16 digits."))]
    digits = normalize(raw)
    if digits is None:
        return [Failure("nik", "characters", _l("The NIK may contain only the digits 0-9."))]
    if len(digits) != LENGTH:
        return [Failure("nik", "length", _l("The NIK has exactly 16 digits; you entered %(n)d.", n=len(digits)))]

    failures: list[Failure] = []
    province, regency, district = digits[0:2], digits[2:4], digits[4:6]
    dd, mm, yy, serial = int(digits[6:8]), int(digits[8:10]), int(digits[10:12]), digits[12:16]
    if int(province) not in PROVINCES:
        failures.append(Failure("province", "province",
                                _l("Digits 1-2 of the NIK (%(code)s) are not a province code.", code=province)))
    if regency == "00":
        failures.append(Failure("regency", "regency", _l("Digits 3-4 of the NIK (regency or city) cannot be 00.")))
    if district == "00":
        failures.append(Failure("district", "district", _l("Digits 5-6 of the NIK (district) cannot be 00.")))

    sex, day = (FEMALE, dd - 40) if dd > 40 else (MALE, dd)
    day_ok = 1 <= day <= 31
    month_ok = 1 <= mm <= 12
    if not day_ok:
        failures.append(Failure("day", "day", _l("Digits 7-8 of the NIK must be a day 01-31 (men) or 41-71 "
                                                 "(women: day + 40).")))
    if not month_ok:
        failures.append(Failure("month", "month", _l("Digits 9-10 of the NIK must be a month 01-12.")))
    birthdate: dt.date | None = None
    if day_ok and month_ok:
        year = resolve_year(yy, mm, day, today or dt.date.today())
        try:
            birthdate = dt.date(year, mm, day)
        except ValueError:
            failures.append(Failure("date", "date", _l("Digits 7-12 of the NIK are not a real date "
                                                       "(%(d)02d-%(m)02d-%(y)d).", d=day, m=mm, y=year)))
    if serial == "0000":
        failures.append(Failure("serial", "serial", _l("Digits 13-16 of the NIK (serial number) cannot be 0000.")))
    if failures or birthdate is None:
        return failures
    return Nik(value=digits, province=province, regency=regency, district=district, birthdate=birthdate,
               sex=sex, serial=serial)


def is_valid(raw: object, *, today: dt.date | None = None) -> bool:
    return isinstance(parse(raw, today=today), Nik)


def looks_like_nik(raw: object) -> bool:
    """True when ``raw`` is 16 digits after removing separators (the sign-in form's NIK-or-e-mail test)."""
    digits = normalize(raw)
    return digits is not None and len(digits) == LENGTH


def mask(nik: object) -> str:
    """``3603********0001``: the first four and last four digits; anything that is not a NIK is all stars."""
    digits = normalize(nik)
    if digits is None or len(digits) != LENGTH:
        return "*" * LENGTH
    return digits[:4] + "*" * 8 + digits[-4:]
