"""Parser and validator of the NIP (Nomor Induk Pegawai), the 18-digit civil servant number; no I/O.

Layout (BKN; usually written ``19850315 201001 1 002``)::

    YYYYMMDD YYYYMM S NNN
    |        |      | +-- serial, 001-999
    |        |      +---- sex: 1 men, 2 women
    |        +----------- appointment (TMT CPNS): year and month
    +-------------------- birth date

The dates must be real and plausible: the birth date lies between 1900-01-01 and today, the
appointment month between 1900-01 and the current month and not before the birth month.  Being
appointed before the age of 18 is unusual but NOT refused (old records and honorary appointments
exist); the directory is the authority, this parser only catches typing and mapping mistakes.

:func:`parse` never raises: it returns a :class:`Nip` or a list of :class:`Failure` (one per faulty
field).  Spaces, dots and dashes typed between digit groups are ignored; any other character is an error.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

# One failure type and one digit normaliser for both national numbers (same separators, same limits).
from idp.sources.nik import MAX_INPUT, Failure, normalize

LENGTH = 18
EARLIEST_YEAR = 1900

MALE = "male"  # OIDC Core 5.1 ``gender`` values
FEMALE = "female"
SEXES = {"1": MALE, "2": FEMALE}


@dataclass(frozen=True)
class Nip:
    """A structurally valid NIP and what it tells."""

    value: str  # 18 ASCII digits
    birthdate: dt.date
    appointment: tuple[int, int]  # (year, month)
    sex: str  # "male" | "female"
    serial: str

    @property
    def formatted(self) -> str:
        """The usual written form ``YYYYMMDD YYYYMM S NNN``."""
        v = self.value
        return f"{v[:8]} {v[8:14]} {v[14]} {v[15:]}"


def parse(raw: object, *, today: dt.date | None = None) -> Nip | list[Failure]:
    """Parse and validate ``raw``; a :class:`Nip`, or the list of every failure found."""
    today = today or dt.date.today()
    if not isinstance(raw, str) or not raw.strip():
        return [Failure("nip", "required", _l("Enter the NIP (18 digits)."))]
    if len(raw) > MAX_INPUT:
        return [Failure("nip", "length", _l("The NIP has exactly 18 digits."))]
    digits = normalize(raw)
    if digits is None:
        return [Failure("nip", "characters", _l("The NIP may contain only the digits 0-9."))]
    if len(digits) != LENGTH:
        return [Failure("nip", "length", _l("The NIP has exactly 18 digits; you entered %(n)d.", n=len(digits)))]

    failures: list[Failure] = []
    birthdate: dt.date | None = None
    by, bm, bd = int(digits[0:4]), int(digits[4:6]), int(digits[6:8])
    try:
        birthdate = dt.date(by, bm, bd)
    except ValueError:
        failures.append(Failure("birthdate", "date", _l("Digits 1-8 of the NIP must be a real birth date "
                                                        "(YYYYMMDD).")))
    if birthdate is not None and not (dt.date(EARLIEST_YEAR, 1, 1) <= birthdate <= today):
        failures.append(Failure("birthdate", "range", _l("Digits 1-8 of the NIP (birth date %(d)s) must lie "
                                                         "between 1900 and today.", d=birthdate.isoformat())))
        birthdate = None

    ay, am = int(digits[8:12]), int(digits[12:14])
    if not 1 <= am <= 12:
        failures.append(Failure("appointment", "month", _l("Digits 13-14 of the NIP must be the appointment "
                                                           "month 01-12.")))
    elif not ((EARLIEST_YEAR, 1) <= (ay, am) <= (today.year, today.month)):
        failures.append(Failure("appointment", "range", _l("Digits 9-14 of the NIP (appointment %(y)04d-%(m)02d) "
                                                           "must lie between 1900 and this month.", y=ay, m=am)))
    elif birthdate is not None and (ay, am) < (birthdate.year, birthdate.month):
        failures.append(Failure("appointment", "before_birth", _l("Digits 9-14 of the NIP (appointment) cannot be "
                                                                  "before the birth date.")))

    sex = SEXES.get(digits[14])
    if sex is None:
        failures.append(Failure("sex", "sex", _l("Digit 15 of the NIP must be 1 (men) or 2 (women).")))
    serial = digits[15:18]
    if serial == "000":
        failures.append(Failure("serial", "serial", _l("Digits 16-18 of the NIP (serial number) cannot be 000.")))
    if failures or birthdate is None or sex is None:
        return failures
    return Nip(value=digits, birthdate=birthdate, appointment=(ay, am), sex=sex, serial=serial)


def is_valid(raw: object, *, today: dt.date | None = None) -> bool:
    return isinstance(parse(raw, today=today), Nip)
