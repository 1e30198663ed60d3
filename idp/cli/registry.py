"""``idp registry-sim`` (a registry simulator), ``idp registry work|status``, ``idp citizens purge-unverified``.

The simulator is a real HTTP server with its own seeded data set speaking the wire format of
:mod:`idp.sources.population_registry`: it answers per-field match flags for a NIK and never returns
registry data.  ``make run`` starts it next to the provider and the tests start it on a free port.  For
tests and demonstrations it can misbehave on request (``POST /_sim/mode`` with ``{"mode": ...}``):
``slow`` (waits longer than any timeout), ``error`` (503), ``html`` (a web page), ``huge`` (a 1 MiB
answer), ``garbage`` (not JSON), ``liar`` (flags that are not booleans) or ``normal``.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from flask.cli import with_appcontext
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from idp.people import nik_proof
from idp.sources import citizen

MODES = ("normal", "slow", "error", "html", "huge", "garbage", "liar")
SLOW_SECONDS = 40.0

# The seeded data set: fictional people whose NIKs agree with their birth dates and sex (README "Proving a NIK").
SEED: tuple[dict[str, str], ...] = (
    {"nik": "3603014501900001", "full_name": "Siti Aminah", "birthdate": "1990-01-05", "birthplace": "Tangerang",
     "mother_name": "Aisyah"},
    {"nik": "3604011205900002", "full_name": "Budi Santoso", "birthdate": "1990-05-12", "birthplace": "Serang",
     "mother_name": "Sri Wahyuni"},
    {"nik": "3672015708850003", "full_name": "Dewi Lestari", "birthdate": "1985-08-17", "birthplace": "Cilegon",
     "mother_name": "Ratna Sari"},
    {"nik": "3601020101000004", "full_name": "Ahmad Fauzi", "birthdate": "2000-01-01", "birthplace": "Pandeglang",
     "mother_name": "Nurhayati"},
)


def _norm(value: Any) -> str:
    text = unicodedata.normalize("NFKC", str(value or ""))
    return " ".join(text.casefold().split())


@dataclass
class Simulator:
    """The simulator's WSGI application: its data set, its credentials and its current mode."""

    user: str = "agency"
    password: str = "registry-sim"  # noqa: S105 - the simulator's fixed development credential
    people: dict[str, dict[str, str]] = field(default_factory=lambda: {p["nik"]: dict(p) for p in SEED})
    mode: str = "normal"
    calls: int = 0

    def _authorized(self, request: Request) -> bool:
        expected = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return hmac.compare_digest(request.headers.get("Authorization", "").encode(), expected.encode())

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.respond(Request(environ))(environ, start_response)

    def respond(self, request: Request) -> Response:
        if request.path == "/_sim/mode" and request.method == "POST":
            mode = (request.get_json(silent=True) or {}).get("mode")
            if mode not in MODES:
                return Response("unknown mode", status=400)
            self.mode = mode
            return Response(json.dumps({"mode": mode}), content_type="application/json")
        if request.method != "POST":
            return Response("POST only", status=405)
        if not self._authorized(request):
            return Response(json.dumps({"error": "unauthorized"}), status=401, content_type="application/json")
        self.calls += 1
        misbehaving = self._misbehave()
        if misbehaving is not None:
            return misbehaving
        query = request.get_json(silent=True)
        if not isinstance(query, dict) or not isinstance(query.get("nik"), str):
            return Response(json.dumps({"error": "bad request"}), status=400, content_type="application/json")
        return Response(json.dumps(self.verify(query)), content_type="application/json")

    def verify(self, query: dict[str, Any]) -> dict[str, Any]:
        """Per-field flags for the fields sent; nothing of the record itself."""
        record = self.people.get(str(query["nik"]))
        answer: dict[str, Any] = {"request_id": "SIM-" + secrets.token_hex(8), "found": record is not None,
                                  "match": {}}
        if record is not None:
            answer["match"] = {f: _norm(query[f]) == _norm(record.get(f)) for f in
                               ("full_name", "birthdate", "birthplace", "mother_name") if f in query}
        return answer

    def _misbehave(self) -> Response | None:
        if self.mode == "slow":
            time.sleep(SLOW_SECONDS)
        if self.mode == "error":
            return Response("registry maintenance", status=503)
        if self.mode == "html":
            return Response("<html><body>Login</body></html>", content_type="text/html")
        if self.mode == "huge":
            flags = {"full_name": True, "birthdate": True, "birthplace": True, "pad": "x" * (1 << 20)}
            return Response(json.dumps({"request_id": "SIM-huge", "found": True, "match": flags}),
                            content_type="application/json")
        if self.mode == "garbage":
            return Response("{not json", content_type="application/json")
        if self.mode == "liar":
            return Response(json.dumps({"request_id": "SIM-liar", "found": True,
                                        "match": {"full_name": "yes", "birthdate": 1, "birthplace": True}}),
                            content_type="application/json")
        return None


class RunningSimulator:
    """The simulator serving HTTP in a thread (tests, ``make run``)."""

    def __init__(self, simulator: Simulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.simulator = simulator
        self.server: BaseWSGIServer = make_server(host, port, simulator, threaded=True)
        self.url = f"http://{host}:{self.server.server_port}/verify"
        self._thread = threading.Thread(target=self.server.serve_forever, name="registry-sim", daemon=True)

    def start(self) -> RunningSimulator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@click.command("registry-sim")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8099, show_default=True)
@click.option("--user", default="agency", show_default=True, help="The HTTP Basic user name it accepts.")
@click.option("--password", default="registry-sim", show_default=True, help="The password it accepts.")
@click.option("--data", "data_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A JSON list of people (nik, full_name, birthdate, birthplace, mother_name) to add.")
def registry_sim_command(host: str, port: int, user: str, password: str, data_file: Path | None) -> None:
    """Serve a population-registry simulator (development and tests; never production)."""
    simulator = Simulator(user=user, password=password)
    if data_file is not None:
        for person in json.loads(data_file.read_text(encoding="utf-8")):
            simulator.people[str(person["nik"])] = {k: str(v) for k, v in person.items()}
    running = RunningSimulator(simulator, host, port)
    click.echo(f"registry simulator at {running.url} ({len(simulator.people)} people); "
               f"IDP_REGISTRY_URL={running.url} IDP_REGISTRY_USER={user} IDP_REGISTRY_PASSWORD=...")
    try:
        running.server.serve_forever()
    except KeyboardInterrupt:
        pass


@click.group("registry")
def registry_group() -> None:
    """Verification of NIKs by the population registry."""


@registry_group.command("work")
@click.option("--limit", type=click.IntRange(1, 100000), default=None, help="Send at most this many requests.")
@with_appcontext
def work_command(limit: int | None) -> None:
    """Send the verification requests that are due now (the background thread does this too)."""
    outcomes = nik_proof.work(limit=limit)
    click.echo(", ".join(f"{k} {outcomes[k]}" for k in ("matched", "mismatch", "pending", "failed", "held")))


@registry_group.command("status")
@with_appcontext
def status_command() -> None:
    """Verification requests per status."""
    counts = nik_proof.status_counts()
    click.echo(json.dumps(counts, sort_keys=True) if counts else "no verification requests")


@click.group("citizens")
def citizens_group() -> None:
    """Citizen accounts."""


@citizens_group.command("purge-unverified")
@click.option("--days", type=click.IntRange(1, 365), default=None,
              help="Delete registrations older than this many days (default: IDP_UNVERIFIED_ACCOUNT_TTL).")
@with_appcontext
def purge_unverified_command(days: int | None) -> None:
    """Delete registrations whose e-mail address (and mobile number) stayed unconfirmed past
    IDP_UNVERIFIED_ACCOUNT_TTL (the background thread does this too); their NIKs are free again."""
    deleted = citizen.purge_unverified(seconds=days * 86400 if days else None)
    click.echo(f"deleted {deleted} unconfirmed registrations")


commands = [registry_sim_command, registry_group, citizens_group]
