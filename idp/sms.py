"""Outgoing text messages (one-time codes) through a seam: an HTTP SMS/WhatsApp gateway or the outbox.

:func:`send` is the one entry point.  Before anything leaves it applies the cost guards, counted in the
store: ``SMS_PER_NUMBER_PER_HOUR`` per recipient, ``SMS_PER_IP_PER_HOUR`` per client address that caused
the message, ``SMS_DAILY_CAP`` in all per UTC day; a message over a limit raises :class:`SmsLimited`
and costs nothing.  Then the configured :class:`SmsSender` delivers it:

- :class:`HttpGateway` (``SMS_GATEWAY_URL``): a JSON POST with a bearer token, ``SMS_TIMEOUT`` seconds,
  ``SMS_RETRIES`` further attempts after a network error, a timeout or a 5xx (a 4xx is final);
- :class:`OutboxSink` (no gateway): one file ``<unix-ns>-<random>.sms`` in ``OUTBOX_DIR`` (development,
  tests), as :mod:`idp.mail` does for mails.

The log never holds a message's text (it carries codes) nor the full number.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Protocol

import phonenumbers
import requests

from idp import ratelimit
from idp.extensions import setting

log = logging.getLogger(__name__)


class SmsError(RuntimeError):
    """The message could not be delivered (the gateway refused or did not answer)."""


class SmsLimited(SmsError):
    """A cost guard refused the message (per number, per address, or the daily cap)."""


REGION = "ID"
MOBILE_TYPES = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def normalize_mobile(raw: object) -> str | None:
    """The E.164 form of an Indonesian mobile number as people type it (``0812-3456-7890``, ``+62 812...``,
    ``62812...``, ``812...``), read by the ``phonenumbers`` library; None for anything else (landlines and
    foreign numbers included: the gateway serves Indonesian mobiles)."""
    text = raw.strip() if isinstance(raw, str) else ""
    if not text or len(text) > 32 or not all(ch.isascii() and (ch.isdigit() or ch in "+-(). ") for ch in text):
        return None
    if text.startswith("62") or text.startswith("8"):
        text = ("+" if text.startswith("62") else "+62") + text  # "62812..." and "812..." as typed in Indonesia
    try:
        parsed = phonenumbers.parse(text, REGION)
    except phonenumbers.NumberParseException:
        return None
    if (phonenumbers.region_code_for_number(parsed) != REGION or not phonenumbers.is_valid_number(parsed)
            or phonenumbers.number_type(parsed) not in MOBILE_TYPES):
        return None
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def mask_number(number: str) -> str:
    """``+6281234567890`` -> ``+62******7890`` (pages and logs)."""
    return number[:3] + "*" * max(0, len(number) - 7) + number[-4:] if len(number) > 7 else "***"


class SmsSender(Protocol):
    """Delivers one text message; raises :class:`SmsError`."""

    def deliver(self, to: str, text: str, kind: str) -> None: ...


class HttpGateway:
    """An HTTP gateway: POST ``{"to", "text"}`` as JSON with a bearer token, retried on transient errors."""

    def __init__(self, url: str, token: str, timeout: int, retries: int) -> None:
        self.url, self.token, self.timeout, self.retries = url, token, timeout, retries

    def deliver(self, to: str, text: str, kind: str) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        problem = "no attempt"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(2.0, 0.2 * 2 ** attempt))  # a short back-off: a person waits on the page
            try:
                resp = requests.post(self.url, json={"to": to, "text": text}, headers=headers,
                                     timeout=self.timeout, allow_redirects=False)
            except requests.RequestException as exc:
                problem = exc.__class__.__name__
                continue
            if 200 <= resp.status_code < 300:
                log.info("sms %s to %s sent via the gateway (attempt %d)", kind, mask_number(to), attempt + 1)
                return
            problem = f"HTTP {resp.status_code}"
            if resp.status_code < 500:
                break  # refused (bad number, bad token): trying again changes nothing
        log.warning("sms %s to %s not sent: %s", kind, mask_number(to), problem)
        raise SmsError(f"gateway: {problem}")


class OutboxSink:
    """Development and tests: each message becomes a file in the outbox folder (JSON: to, kind, text)."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)

    def deliver(self, to: str, text: str, kind: str) -> None:
        name = f"{time.time_ns()}-{secrets.token_hex(6)}.sms"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = self.folder / f".{name}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"to": to, "kind": kind, "text": text}, handle, ensure_ascii=False)
            os.replace(tmp, self.folder / name)
        except OSError as exc:
            raise SmsError(f"outbox write failed: {exc.__class__.__name__}") from exc
        log.info("sms %s to %s written to the outbox as %s (no SMS_GATEWAY_URL set)", kind, mask_number(to), name)


def sender() -> SmsSender:
    """The configured sender."""
    if setting("SMS_GATEWAY_URL"):
        return HttpGateway(setting("SMS_GATEWAY_URL"), setting("SMS_GATEWAY_TOKEN"), int(setting("SMS_TIMEOUT")),
                           int(setting("SMS_RETRIES")))
    return OutboxSink(setting("OUTBOX_DIR"))


def send(to: str, text: str, *, kind: str, ip: str | None) -> None:
    """Send ``text`` to the E.164 number ``to`` under the cost guards; :class:`SmsLimited`, :class:`SmsError`."""
    day = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    if not ratelimit.allow("sms-number", ratelimit.identifier_key(f"sms:{to}"),
                           int(setting("SMS_PER_NUMBER_PER_HOUR")), 3600):
        raise SmsLimited("per number")
    if ip and not ratelimit.allow("sms-ip", ip, int(setting("SMS_PER_IP_PER_HOUR")), 3600):
        raise SmsLimited("per address")
    if not ratelimit.allow("sms-day", day, int(setting("SMS_DAILY_CAP")), 86400 + 3600):
        log.error("the daily text message cap (IDP_SMS_DAILY_CAP) is reached: no more codes by SMS today")
        raise SmsLimited("daily cap")
    sender().deliver(to, text, kind)
