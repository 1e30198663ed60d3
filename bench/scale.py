"""``make bench-scale``: citizen sign-in latency with 1 million and with 12 million accounts (issue 8).

A private PostgreSQL and Redis are started on free ports and the provider runs under the production
server (``idp serve``), as in ``make bench``.  Synthetic citizens are bulk-loaded
with ``COPY`` into ``people``, ``identity_links`` and ``citizen_accounts`` with every index in place
(as a provider in service would have them): structurally valid NIKs (Banten province codes, real birth
dates, +40 on the day for women, a serial), their keyed hashes made with the provider's own
``IDP_HASH_KEY`` (the lookup column), unique e-mail addresses and subjects.  Only the NIK ciphertext
and the password hash are one shared value for the synthetic rows: sign-in never reads the first for
other people, and the second is never checked for them.

At each size the demo citizen signs in ``--signins`` times through the real pages (GET ``/login``,
POST ``/login`` with NIK and password, argon2id at Keycloak's cost); the POST's latency is what is
compared, with the planner's own view of the NIK lookup (``EXPLAIN ANALYZE``).  The result goes to
``bench/results/scale.md`` and ``scale.json``; the target is p50 at 12 M within 1.2x of p50 at 1 M.
"""

# The harness runs its own fixed commands (idp serve, idp) with arguments it builds itself.
# ruff: noqa: S603

from __future__ import annotations

import argparse
import base64
import datetime as dt
import io
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
import requests

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import BIN, KEYCLOAK_ARGON2, RESULTS, start_server  # noqa: E402
from tests import services  # noqa: E402

REGENCIES = ("01", "02", "03", "04", "71", "72", "73", "74")  # Banten's regencies and cities
EPOCH = dt.date(1940, 1, 1)
DAYS = 24000  # birth dates from 1940 to about 2005
BATCH = 200_000


def nik_of(i: int) -> tuple[str, dt.date, str]:
    """The i-th synthetic NIK (unique for i below ~7.7e10), its birth date and sex."""
    serial = i % 9999 + 1
    rest = i // 9999
    female = rest % 2 == 1
    rest //= 2
    born = EPOCH + dt.timedelta(days=rest % DAYS)
    rest //= DAYS
    regency = REGENCIES[rest % len(REGENCIES)]
    district = rest // len(REGENCIES) % 30 + 1
    day = born.day + (40 if female else 0)
    nik = f"36{regency}{district:02d}{day:02d}{born.month:02d}{born.year % 100:02d}{serial:04d}"
    return nik, born, "female" if female else "male"


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


class Scale:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.workdir = Path(tempfile.mkdtemp(prefix="idp-scale-"))
        self.stops: list[Any] = []
        self.loaded = 0
        self.results: list[dict[str, Any]] = []

    def close(self) -> None:
        while self.stops:
            try:
                self.stops.pop()()
            except Exception as exc:  # noqa: BLE001 - keep stopping the rest
                print(f"  (stop failed: {exc})", file=sys.stderr)

    def start(self) -> None:
        say("starting PostgreSQL and Redis on free ports")
        pg = services.start_postgres()
        self.stops.append(pg.stop)
        redis_svc = services.start_redis()
        self.stops.append(redis_svc.stop)
        self.db_url = services.create_database(pg.url, "idp_scale")
        self.hash_key = secrets.token_bytes(32)
        from idp.crypto import Crypto

        # The provider's keyed hash (same IDP_HASH_KEY) for the lookup column; the data key encrypts only
        # the shared placeholder ciphertext of the synthetic rows.
        self.crypto = Crypto(hash_key=self.hash_key, data_keys={"x": secrets.token_bytes(32)}, active_kid="x")
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("IDP_")},
            "IDP_ENV": "development", "IDP_INSTANCE_DIR": str(self.workdir / "instance"),
            "IDP_DATABASE_URL": self.db_url, "IDP_REDIS_URL": redis_svc.url,
            "IDP_SECRET_KEY": secrets.token_urlsafe(48),
            "IDP_HASH_KEY": base64.urlsafe_b64encode(self.hash_key).decode(),
            "IDP_DATA_KEYS": "scale1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "IDP_LOG_LEVEL": "WARNING", "PYTHONWARNINGS": "ignore", **KEYCLOAK_ARGON2,
        }
        for args in (("db", "upgrade"), ("keys", "ensure"), ("demo",)):
            subprocess.run([str(BIN / "idp"), *args], env=self.env, cwd=ROOT, check=True, capture_output=True,
                           timeout=300)
        from idp.cli import demo as demo_module

        self.citizen = (demo_module.DEMO_NIK, demo_module.DEMO_PASSWORD)
        self.psql_url = self.db_url.replace("postgresql+psycopg://", "postgresql://")
        self.provider = start_server("granian", "provider", "idp", self.args.workers, self.env, self.workdir)
        self.stops.append(lambda: services.stop_process(self.provider.proc))

    def load(self, total: int) -> float:
        """Add synthetic citizens until there are ``total``; seconds spent."""
        crypto = self.crypto
        shared_enc = crypto.encrypt("0" * 16, "citizen.nik")
        shared_pw = "$argon2id$v=19$m=7168,t=5,p=1$c3ludGhldGljc2FsdA$" + "A" * 43
        started = time.monotonic()
        with psycopg.connect(self.psql_url, autocommit=False) as conn:
            base = conn.execute("SELECT coalesce(max(id), 0) FROM people").fetchone()[0] + 1
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
            i = self.loaded
            while i < total:
                end = min(total, i + BATCH)
                people, links, accounts = io.StringIO(), io.StringIO(), io.StringIO()
                for n in range(i, end):
                    pid = base + n
                    nik, born, sex = nik_of(n)
                    public_id = f"s{n:015x}"
                    email = f"w{n}@synthetic.invalid"
                    people.write(f"{pid}\tsyn-{n:012d}\tactive\tWarga {n}\t{email}\tt\t{born}\t{sex}\tid\t"
                                 f"{now}\t{now}\n")
                    links.write(f"{pid}\t{pid}\tcitizen\t{public_id}\t{now}\n")
                    accounts.write(f"{pid}\t{public_id}\t{pid}\t{crypto.keyed_hash('nik', nik)}\t{shared_enc}\tx\t"
                                   f"{nik[:4]}********{nik[-4:]}\t{email}\t{now}\t{shared_pw}\tWarga {n}\t{born}\t"
                                   f"{sex}\turn:bantenprov:sso:acr:citizen\tactive\t{now}\t{now}\n")
                with conn.cursor() as cur:
                    for table, cols, buf in (
                        ("people", "id, sub, status, name, email, email_verified, birthdate, gender, locale, "
                         "created_at, updated_at", people),
                        ("identity_links", "id, person_id, source, subject, created_at", links),
                        ("citizen_accounts", "id, public_id, person_id, nik_hash, nik_enc, nik_key_id, nik_masked, "
                         "email, email_verified_at, password_hash, full_name, birthdate, gender, assurance, "
                         "status, created_at, password_changed_at", accounts)):
                        with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                            copy.write(buf.getvalue())
                conn.commit()
                i = end
                if (i // BATCH) % 10 == 0 or i == total:
                    say(f"  {i:,} citizens loaded")
            for table in ("people", "identity_links", "citizen_accounts"):
                # table names come from the fixed tuple above, never from input
                conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                             f"(SELECT max(id) FROM {table}))")
                conn.execute(f"ANALYZE {table}")
            conn.commit()
        self.loaded = total
        return time.monotonic() - started

    def explain(self) -> float:
        """The planner's execution time (ms) of the NIK lookup, best of five."""
        wanted = self.crypto.keyed_hash("nik", nik_of(self.loaded // 2)[0])
        best = float("inf")
        with psycopg.connect(self.psql_url) as conn:
            for _ in range(5):
                plan = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM citizen_accounts "
                                    "WHERE nik_hash = %s", (wanted,)).fetchone()[0]
                best = min(best, float(plan[0]["Execution Time"]))
                assert "Index" in json.dumps(plan), plan
        return best

    def sign_ins(self, count: int) -> dict[str, float]:
        """Latency of the sign-in POST for the demo citizen, ``count`` times (after three warm-ups)."""
        nik, password = self.citizen
        times: list[float] = []
        for k in range(count + 3):
            browser = requests.Session()
            page = browser.get(self.provider.url + "/login", timeout=30)
            token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text) or \
                re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token, page.text[:500]
            start = time.perf_counter()
            resp = browser.post(self.provider.url + "/login", allow_redirects=False, timeout=30, data={
                "csrf_token": token.group(1), "kind": "citizen", "identifier": nik, "password": password})
            elapsed = time.perf_counter() - start
            assert resp.status_code == 303, (resp.status_code, resp.text[:500])
            if k >= 3:
                times.append(elapsed * 1000)
        times.sort()
        return {"p50_ms": statistics.median(times), "p99_ms": times[max(0, int(len(times) * 0.99) - 1)],
                "mean_ms": statistics.fmean(times), "count": len(times)}

    def run(self) -> dict[str, Any]:
        self.start()
        for size in self.args.sizes:
            say(f"loading synthetic citizens up to {size:,}")
            seconds = self.load(size)
            say(f"measuring {self.args.signins} sign-ins at {size:,} accounts")
            row = {"accounts": size, "load_seconds": round(seconds, 1), "lookup_ms": round(self.explain(), 3),
                   **{k: round(v, 2) for k, v in self.sign_ins(self.args.signins).items()}}
            with psycopg.connect(self.psql_url) as conn:
                row["table_mib"] = round(conn.execute(
                    "SELECT pg_total_relation_size('citizen_accounts')").fetchone()[0] / 2**20)
            self.results.append(row)
            say(f"  {row}")
        first, last = self.results[0], self.results[-1]
        ratio = last["p50_ms"] / first["p50_ms"] if first["p50_ms"] else 0.0
        return {"run": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "rows": self.results,
                "ratio_p50": round(ratio, 3), "target": "p50 at the largest size <= 1.2 x p50 at the smallest",
                "met": ratio <= 1.2, "workers": self.args.workers}


def markdown(data: dict[str, Any]) -> str:
    lines = ["# Scale: citizen sign-in latency by number of accounts", "",
             f"Run {data['run']}; idp serve ({data['workers']} workers), PostgreSQL and Redis on "
             "the same machine; argon2id t=5 m=7 MiB (Keycloak's cost). Latency of the sign-in POST "
             "(NIK + password) of one citizen, sequential.", "",
             "| Accounts | Load s | Table MiB | NIK lookup ms (planner) | p50 ms | p99 ms | mean ms | Sign-ins |",
             "|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in data["rows"]:
        lines.append(f"| {r['accounts']:,} | {r['load_seconds']} | {r['table_mib']} | {r['lookup_ms']} | "
                     f"{r['p50_ms']} | {r['p99_ms']} | {r['mean_ms']} | {r['count']} |")
    lines += ["", f"p50 ratio largest/smallest: {data['ratio_p50']} (target <= 1.2: "
              f"{'met' if data['met'] else 'NOT met'})."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1_000_000, 12_000_000],
                        help="comma-separated account counts, ascending (default 1000000,12000000)")
    parser.add_argument("--signins", type=int, default=60)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.sizes != sorted(args.sizes) or not args.sizes or args.sizes[0] < 1:
        parser.error("--sizes must be positive and ascending")
    scale = Scale(args)
    try:
        data = scale.run()
    finally:
        scale.close()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scale.json").write_text(json.dumps(data, indent=2) + "\n")
    (args.out / "scale.md").write_text(markdown(data))
    print(markdown(data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
