"""The redirect-mismatch page (issue 18): it shows the developer the redirect URI that was sent and how to
register it, as text only: never a redirect to it, never a link to it, hostile values escaped."""

from __future__ import annotations

import pytest

from .conftest import RP

SENT = [
    "http://127.0.0.1:5002/callback",
    "javascript:alert(1)",
    '"><script>alert(1)</script>',
    "https://evil.example/" + "a" * 3000,
]


@pytest.mark.parametrize("sent", SENT)
def test_page_shows_the_sent_redirect_uri_as_text(rp: RP, sent: str) -> None:
    resp = rp.authorize(redirect_uri=sent, ui_locales="en")
    body = resp.get_data(as_text=True)
    assert resp.status_code == 400 and "Location" not in resp.headers
    assert 'id="sent-redirect-uri"' in body
    assert "<script>alert" not in body
    assert f'href="{sent[:40]}' not in body and f'action="{sent[:40]}' not in body
    if len(sent) < 500:
        shown = sent.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;")
        assert shown in body
    assert rp.client_id in body
    assert "RP_PORT" in body and "RFC 7592" in body


def test_missing_redirect_uri_is_said(rp: RP) -> None:
    resp = rp.authorize(redirect_uri=None, ui_locales="en")
    assert resp.status_code == 400
    assert "sent no redirect_uri" in resp.get_data(as_text=True)


def test_page_is_indonesian_by_default(rp: RP) -> None:
    resp = rp.authorize(redirect_uri="http://127.0.0.1:5002/callback")
    assert "Alamat pengalihan (redirect URI) yang dikirim aplikasi" in resp.get_data(as_text=True)
