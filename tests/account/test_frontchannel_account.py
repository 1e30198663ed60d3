"""Front-Channel Logout 1.0 from the account pages: signing this browser out loads the logout iframes."""

from __future__ import annotations

import re
from collections.abc import Callable

from idp.web import middleware
from tests.citizen.helpers import csrf

from .conftest import RP

FC = "https://rp.example.org/fc"


def _iframes(html: str) -> list[str]:
    return [src.replace("&amp;", "&") for src in re.findall(r'<iframe class="frontchannel-logout" src="([^"]+)"', html)]


def test_sign_out_everywhere_loads_the_iframes_of_every_ended_session(make_rp: Callable[..., RP]) -> None:
    rp = make_rp(frontchannel_logout_uri=FC)
    rp.get_code()  # the application joins this browser's session
    other = make_rp(signed_in=True)  # a second session of the same person (another browser), no iframe client
    rp2 = RP(app=rp.app, browser=other.browser, client_id=rp.client_id, secret=rp.secret,
             person_id=rp.person_id, sub=rp.sub)
    rp2.get_code()
    page = rp.browser.get("/account/sessions")
    resp = rp.browser.post("/account/sessions/end-all", data={"csrf_token": csrf(page.data)})
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    urls = _iframes(html)
    assert len(urls) == 2 and all(u.startswith(FC + "?iss=") for u in urls)
    assert len({u.split("sid=")[1] for u in urls}) == 2
    assert 'id="frontchannel-continue"' in html and 'href="/"' in html
    assert resp.headers["Content-Security-Policy"] == middleware.CSP + "; frame-src https://rp.example.org"
    assert rp.browser.get("/account").status_code == 303


def test_sign_out_this_session_loads_its_iframes(make_rp: Callable[..., RP]) -> None:
    rp = make_rp(frontchannel_logout_uri=FC)
    rp.get_code()
    page = rp.browser.get("/account/sessions").get_data(as_text=True)
    sid = re.findall(r'action="/account/sessions/end/([^"]+)"', page)[0]
    resp = rp.browser.post(f"/account/sessions/end/{sid}", data={"csrf_token": csrf(page.encode())})
    assert resp.status_code == 200
    assert _iframes(resp.get_data(as_text=True)) == [f"{FC}?iss=http%3A%2F%2F127.0.0.1%3A5000&sid={sid}"]


def test_without_frontchannel_clients_the_redirect_stays(make_rp: Callable[..., RP]) -> None:
    rp = make_rp()
    rp.get_code()
    page = rp.browser.get("/account/sessions")
    resp = rp.browser.post("/account/sessions/end-all", data={"csrf_token": csrf(page.data)})
    assert resp.status_code == 303 and resp.headers["Location"] == "/"
