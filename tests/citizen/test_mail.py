"""Mail: a real SMTP server (aiosmtpd) in plain, STARTTLS and implicit-TLS modes with authentication,
the outbox folder when no SMTP host is set, bilingual text, logs without tokens or full addresses."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import logging
import re
import ssl
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from idp import mail
from tests import services

from .helpers import mails_to, register


class Inbox:
    """aiosmtpd handler that keeps every message it received."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = getattr(auth_data, "login", None) == b"idp" and getattr(auth_data, "password", None) == b"s3cret-smtp"
    return AuthResult(success=ok)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("smtp-tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _server_context(certificate) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*certificate)
    return ctx


@pytest.fixture
def smtp_server(certificate):
    """Start an SMTP server: ``smtp_server(mode)``; returns (inbox, port)."""
    started: list[Controller] = []

    def start(mode: str):
        inbox = Inbox()
        port = services.free_port()
        kwargs: dict = {"hostname": "127.0.0.1", "port": port}
        if mode == "starttls":
            kwargs.update(tls_context=_server_context(certificate), require_starttls=True,
                          authenticator=_authenticator, auth_require_tls=True)
        elif mode == "ssl":
            kwargs.update(ssl_context=_server_context(certificate), authenticator=_authenticator,
                          auth_require_tls=False)
        controller = Controller(inbox, **kwargs)
        controller.start()
        started.append(controller)
        return inbox, port

    yield start
    for controller in started:
        controller.stop()


@pytest.mark.parametrize("mode", ["none", "starttls", "ssl"])
def test_registration_mail_goes_through_a_real_smtp_server(make_app, smtp_server, certificate, mode):
    inbox, port = smtp_server(mode)
    settings = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": port, "SMTP_TLS": mode, "SMTP_TIMEOUT": 5}
    if mode != "none":
        settings.update(SMTP_USER="idp", SMTP_PASSWORD="s3cret-smtp", SMTP_CA_FILE=str(certificate[0]))
    app = make_app(**settings)
    client = app.test_client()
    citizen, resp = register(client)
    assert resp.status_code == 303
    assert len(inbox.messages) == 1
    sender, rcpts, raw = inbox.messages[0]
    assert rcpts == [citizen.email]
    assert "no-reply@bantenprov.go.id" in sender
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert "/verify-email?token=" in msg.get_content()
    assert not Path(app.extensions["idp"].config["OUTBOX_DIR"]).exists()


def test_starttls_refuses_an_untrusted_certificate(make_app, smtp_server):
    _, port = smtp_server("starttls")
    app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_TLS="starttls", SMTP_USER="idp",
                   SMTP_PASSWORD="s3cret-smtp", SMTP_TIMEOUT=5)  # no SMTP_CA_FILE: system CAs only
    _, resp = register(app.test_client())
    assert resp.status_code == 503
    assert b"Nothing was saved" in resp.data


def test_wrong_smtp_password_is_a_clean_503(make_app, smtp_server, certificate):
    _, port = smtp_server("starttls")
    app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_TLS="starttls", SMTP_USER="idp",
                   SMTP_PASSWORD="wrong", SMTP_CA_FILE=str(certificate[0]), SMTP_TIMEOUT=5)
    _, resp = register(app.test_client())
    assert resp.status_code == 503


def test_unreachable_smtp_server_is_a_clean_503(make_app):
    app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=services.free_port(), SMTP_TLS="none", SMTP_TIMEOUT=2)
    _, resp = register(app.test_client())
    assert resp.status_code == 503
    assert b"Traceback" not in resp.data


def test_outbox_files_are_rfc5322_utf8_and_logged_without_secrets(make_app, caplog):
    app = make_app()
    caplog.set_level(logging.DEBUG)
    client = app.test_client()
    citizen, _ = register(client, name="Siti Nurhaliza Ñúñez")
    folder = Path(app.extensions["idp"].config["OUTBOX_DIR"])
    files = list(folder.iterdir())
    assert len(files) == 1
    assert re.fullmatch(r"\d{18,}-[0-9a-f]{12}\.eml", files[0].name)
    raw = files[0].read_bytes()
    assert b"\r\n" in raw
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    for header in ("From", "To", "Subject", "Date", "Message-ID"):
        assert msg[header], header
    assert msg.get_content_type() == "text/plain" and msg.get_content_charset() == "utf-8"
    body = msg.get_content()
    assert "Siti Nurhaliza Ñúñez" in body
    token = re.search(r"token=(\S+)", body).group(1)
    info = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO and r.name == "idp.mail"]
    assert any("written to the outbox" in line for line in info)
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert token not in everything
    assert citizen.email not in everything
    assert mail.mask_address(citizen.email) in everything
    assert citizen.nik not in everything


@pytest.mark.parametrize(("address", "masked"), [
    ("budi.santoso@example.org", "b***@example.org"),
    ("x@y.id", "x***@y.id"),
    ("nonsense", "***"),
    ("", "***"),
])
def test_mask_address(address, masked):
    assert mail.mask_address(address) == masked


def test_bilingual_when_translated_and_not_doubled_when_not(app):
    with app.test_request_context():
        subject, body = mail.render("auth/mail/verify.txt", name="Budi", link="http://x/verify-email?token=t",
                                    hours=48)
    assert body.count("http://x/verify-email?token=t") in (1, 2)
    if body.count("http://x/verify-email?token=t") == 2:
        # Indonesian first, English below the separator
        first, _, second = body.partition("---------- English ----------")
        assert "Hello Budi" in second and "Hello Budi" not in first
        assert " / " in subject
    else:
        assert "---------- English ----------" not in body


def test_duplicate_notice_names_what_matched(make_app):
    app = make_app()
    client = app.test_client()
    citizen, _ = register(client)
    register(app.test_client(), email_address=citizen.email)
    notice = mails_to(app, citizen.email)[-1].get_content()
    assert "e-mail address" in notice or "alamat e-mail" in notice
    assert "/login" in notice and "/verify-email/resend" in notice
