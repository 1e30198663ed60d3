"""The portal's "Who may sign in" fields (issue 18): stored as the access policy metadata, shown again when
the application is changed, bad values refused at their field in the page's language; and the operator's
``idp clients policy`` / ``idp clients create --require-*``."""

from __future__ import annotations

import json

from flask import Flask
from sqlalchemy import select

from idp import assurance
from idp.extensions import db
from idp.models import AuditEvent, Client

from .conftest import create_team, register, registered, staff_browser

GROUP = "cn=Kepegawaian,ou=Groups,dc=bantenprov,dc=go,dc=id"


def metadata(app: Flask, client_id: str) -> dict:
    with app.app_context():
        found = db.session.execute(select(Client.client_metadata).where(Client.client_id == client_id))
        return dict(found.scalar_one())


def test_portal_registers_and_shows_a_policy(app: Flask) -> None:
    budi = staff_browser(app)
    team_id = create_team(budi)
    pk, client_id, _secret = registered(budi, team_id, required_person_type="staff",
                                        required_groups=f"{GROUP}\n{GROUP}\n", required_acr=assurance.MFA)
    meta = metadata(app, client_id)
    assert meta["required_person_type"] == "staff" and meta["required_groups"] == [GROUP]
    assert meta["required_acr"] == assurance.MFA
    form = budi.get(f"/portal/apps/{pk}/edit").get_data(as_text=True)
    assert GROUP in form and 'value="staff" checked' in form


def test_portal_anyone_sets_no_policy(app: Flask) -> None:
    budi = staff_browser(app)
    team_id = create_team(budi, "Dinas Anyone")
    _pk, client_id, _secret = registered(budi, team_id, required_person_type="any", required_acr="any")
    meta = metadata(app, client_id)
    assert not {"required_person_type", "required_groups", "required_acr"} & set(meta)


def test_portal_refuses_bad_policies_at_their_field(app: Flask) -> None:
    budi = staff_browser(app)
    team_id = create_team(budi, "Dinas Bad")
    for fields, field in (({"required_person_type": "alien"}, "required_person_type"),
                          ({"required_acr": "gold"}, "required_acr"),
                          ({"required_person_type": "citizen", "required_groups": GROUP}, "required_groups"),
                          ({"required_groups": "\n".join(f"cn=g{i}" for i in range(21))}, "required_groups")):
        resp = register(budi, team_id, **fields)
        html = resp.get_data(as_text=True)
        assert resp.status_code == 400, fields
        assert f'id="{field}-error"' in html, (fields, html[:3000])
    with app.app_context():
        assert db.session.execute(select(Client)).first() is None


def test_cli_sets_and_clears_a_policy(app: Flask) -> None:
    runner = app.test_cli_runner()
    created = runner.invoke(args=["clients", "create", "--name", "Kepegawaian", "--redirect-uri",
                                  "https://kepegawaian.example.go.id/callback", "--require-person-type", "staff",
                                  "--require-group", GROUP, "--json"])
    assert created.exit_code == 0, created.output
    client_id = json.loads(created.output)["client_id"]
    assert metadata(app, client_id)["required_groups"] == [GROUP]
    changed = runner.invoke(args=["clients", "policy", client_id, "--acr", assurance.MFA, "--no-groups"])
    assert changed.exit_code == 0, changed.output
    meta = metadata(app, client_id)
    assert meta["required_acr"] == assurance.MFA and "required_groups" not in meta
    assert meta["required_person_type"] == "staff"
    refused = runner.invoke(args=["clients", "policy", client_id, "--acr", "gold"])
    assert refused.exit_code != 0 and "required_acr" in refused.output
    cleared = runner.invoke(args=["clients", "policy", client_id, "--person-type", "any", "--acr", "any"])
    assert cleared.exit_code == 0
    assert json.loads(runner.invoke(args=["clients", "policy", client_id]).output) == {}
    with app.app_context():
        events = db.session.execute(select(AuditEvent).where(AuditEvent.event == "client.policy_changed")).all()
    assert len(events) == 2
