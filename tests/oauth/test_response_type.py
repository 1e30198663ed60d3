"""Hostile ``response_type`` values (found by the fuzz tests): a clean ``unsupported_response_type``,
never a 500, whatever characters the value holds."""

from __future__ import annotations

import pytest

from . import helpers


@pytest.mark.parametrize("value", ["token", "id_token", "code token", "\x80»ö𫛩Ç", "code\u2028", '"<script>', "x" * 300,
                                   "CODE", " code"])
def test_unsupported_response_types(rp, value: str) -> None:
    resp = rp.authorize(response_type=value)
    assert resp.status_code in (302, 400), resp.status_code
    if resp.status_code == 302:
        query = helpers.query(resp.headers["Location"])
        assert query["error"] in ("unsupported_response_type", "invalid_request") and query["state"] == "st-123"
