"""Outgoing mail: bilingual text (Indonesian first, English below) sent over SMTP or written to an outbox.

With ``SMTP_HOST`` set, mail goes to that server (``SMTP_TLS``: ``starttls``, ``ssl`` for implicit TLS,
or ``none``).  Without it, each mail becomes one RFC 5322 file ``<unix-ns>-<random>.eml`` in
``OUTBOX_DIR`` (development, tests, air-gapped demos) and an INFO log line says so; the log never
holds a link's token or the full recipient address.
"""

from __future__ import annotations

import logging
import os
import secrets
import smtplib
import ssl
import time
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import force_locale

from idp.extensions import setting

log = logging.getLogger(__name__)

# Indonesian first: most recipients read it; English follows for everybody else.
LANGUAGES = ("id", "en")
SEPARATOR = "\n\n---------- English ----------\n\n"


class MailError(RuntimeError):
    """The mail could not be handed to the SMTP server (or written to the outbox)."""



def mask_address(address: str) -> str:
    """``budi.santoso@example.org`` -> ``b***@example.org`` (for logs)."""
    local, sep, domain = (address or "").rpartition("@")
    if not sep:
        return "***"
    return f"{local[:1]}***@{domain}"


def render(template: str, **context: Any) -> tuple[str, str]:
    """Subject and body of ``templates/<template>`` in every language (a language only once when the
    translations are missing, so an untranslated mail is not the same text twice).

    The template sets ``subject`` at top level; its output is the body.
    """
    tpl = current_app.jinja_env.get_template(template)
    subjects: list[str] = []
    bodies: list[str] = []
    for lang in LANGUAGES:
        with force_locale(lang):
            module = tpl.make_module(context)
            subject = str(getattr(module, "subject", "")).strip()
            body = str(module).strip()
        if body not in bodies:
            bodies.append(body)
        if subject and subject not in subjects:
            subjects.append(subject)
    return " / ".join(subjects), SEPARATOR.join(bodies) + "\n"


def build(to: str, subject: str, body: str) -> EmailMessage:
    """A complete RFC 5322 message (UTF-8 text)."""
    msg = EmailMessage()
    msg["From"] = setting("MAIL_FROM")
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(domain=urlsplit(setting("ISSUER")).hostname or "localhost")
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies
    msg.set_content(body, charset="utf-8", cte="8bit")
    return msg


def send_template(to: str, template: str, **context: Any) -> None:
    """Render ``template`` in both languages and send it to ``to``."""
    subject, body = render(template, **context)
    send(to, subject, body, kind=template.rsplit("/", 1)[-1].split(".")[0])


def send(to: str, subject: str, body: str, *, kind: str = "mail") -> None:
    """Send one mail, or write it to the outbox; raises :class:`MailError` when that fails."""
    msg = build(to, subject, body)
    if setting("SMTP_HOST"):
        _send_smtp(msg, to, kind)
    else:
        _write_outbox(msg, to, kind)


def _tls_context() -> ssl.SSLContext:
    ca = setting("SMTP_CA_FILE") or None
    return ssl.create_default_context(cafile=ca)


def _send_smtp(msg: EmailMessage, to: str, kind: str) -> None:
    host, port, mode, timeout = setting("SMTP_HOST"), setting("SMTP_PORT"), setting("SMTP_TLS"), setting("SMTP_TIMEOUT")
    started = time.monotonic()
    try:
        smtp: smtplib.SMTP
        if mode == "ssl":
            smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=_tls_context())
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
        with smtp:
            smtp.ehlo()
            if mode == "starttls":
                smtp.starttls(context=_tls_context())
                smtp.ehlo()
            if setting("SMTP_USER"):
                smtp.login(setting("SMTP_USER"), setting("SMTP_PASSWORD"))
            smtp.send_message(msg)
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        log.warning("mail %s to %s not sent: %s: %s", kind, mask_address(to), exc.__class__.__name__, exc)
        raise MailError(f"SMTP delivery failed: {exc.__class__.__name__}") from exc
    log.info("mail %s sent to %s via %s:%s in %.0f ms", kind, mask_address(to), host, port,
             (time.monotonic() - started) * 1000)


def _write_outbox(msg: EmailMessage, to: str, kind: str) -> None:
    folder = Path(setting("OUTBOX_DIR"))
    name = f"{time.time_ns()}-{secrets.token_hex(6)}.eml"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a reader polling the folder never sees half a mail.
        tmp = folder / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(msg.as_bytes(policy=SMTP_POLICY))
        os.replace(tmp, folder / name)
    except OSError as exc:
        log.warning("mail %s to %s not written to the outbox: %s", kind, mask_address(to), exc)
        raise MailError(f"outbox write failed: {exc.__class__.__name__}") from exc
    log.info("mail %s to %s written to the outbox as %s (no SMTP_HOST set)", kind, mask_address(to), name)
