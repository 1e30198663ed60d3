"""``idp audit purge``: audit events older than the retention period go, newer ones stay."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask

from idp.extensions import db
from idp.models import AuditEvent, utcnow

PURGES = [([], {1, 100, 364}), (["--days", "30"], {1}), (["--days", "400"], {1, 100, 364, 366})]


@pytest.mark.parametrize(("args", "kept"), PURGES)
def test_purge(app: Flask, args: list[str], kept: set[int]) -> None:
    with app.app_context():
        for days in (1, 100, 364, 366, 1000):
            db.session.add(AuditEvent(event="login", at=utcnow() - dt.timedelta(days=days), detail={"days": days}))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["audit", "purge", *args])
    assert result.exit_code == 0, result.output
    with app.app_context():
        left = {e.detail["days"] for e in db.session.query(AuditEvent).all()}
    assert left == kept


@pytest.mark.parametrize("bad", ["0", "-5", "abc", "1e9", ""])
def test_purge_refuses_bad_days(app: Flask, bad: str) -> None:
    result = app.test_cli_runner().invoke(args=["audit", "purge", "--days", bad])
    assert result.exit_code == 2
