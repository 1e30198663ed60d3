"""``make bench``: start the provider as in production, seed it, drive each workload from a separate
load generator process and write ``bench/results/latest.md`` and ``latest.json``.

The provider runs under the production server, ``idp serve`` (Granian WSGI workers, one per core unless
``--workers`` says otherwise; ``--server gunicorn`` measures ``gunicorn.conf.py``'s gthread workers instead)
against private PostgreSQL, Redis and OpenLDAP ``slapd`` instances on free ports (the test suite's
starters).  Single-request workloads are driven by ``wrk`` (C, Lua script ``bench/lua/workload.lua``);
the sign-in flows, which need cookies, a CSRF token and PKCE, by ``bench/flows.py`` in its own process.

The main figure is **requests per CPU-second of the provider's processes** (the server's master and
workers, user + system time from /proc before and after each workload): it does not depend on how
many cores the machine has or on what the load generator costs, so it compares across machines.  The
same figure for a bare Flask endpoint under the same server settings (``bench/ceiling_app.py``) is
measured in the same run, and every workload is also given as a fraction of it.
"""

# The harness runs its own fixed commands (granian/gunicorn, wrk, idp, py-spy) with arguments it builds itself.
# ruff: noqa: S603

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import platform
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import flows, peer_oidc  # noqa: E402
from bench.procs import Server  # noqa: E402
from idp.cli import serve  # noqa: E402
from tests import services  # noqa: E402

BIN = Path(sys.executable).parent
LUA = ROOT / "bench" / "lua" / "workload.lua"
RESULTS = ROOT / "bench" / "results"
REDIRECT_URI = "http://127.0.0.1:9/callback"  # never contacted: the flows read the code from the redirect
# Keycloak's sizing guide hashes with Argon2id t=5, m=7 MiB; the targets of issue 8 are at that cost.
KEYCLOAK_ARGON2 = {"IDP_ARGON2_TIME_COST": "5", "IDP_ARGON2_MEMORY_KIB": "7168", "IDP_ARGON2_PARALLELISM": "1"}
MIB = 1024 * 1024
STAFF = ("budi", "Budi-Pass-2026")
WORKLOADS = ("ceiling", "discovery", "jwks", "client_credentials", "client_credentials_jwt_rs256",
             "client_credentials_jwt_es256", "floor_client_credentials", "floor_client_credentials_jwt_rs256",
             "floor_client_credentials_jwt_es256", "refresh", "userinfo", "floor_userinfo", "introspection",
             "floor_introspection", "citizen_signin", "staff_signin")
# The floor (bench/ceiling_app.py POST /token): the same token workloads on the smallest provider built
# from Flask and Authlib's grant machinery, with nothing of ours.  Each runs whenever its workload does.
FLOOR_OF = {"floor_client_credentials": "client_credentials",
            "floor_client_credentials_jwt_rs256": "client_credentials_jwt_rs256",
            "floor_client_credentials_jwt_es256": "client_credentials_jwt_es256",
            "floor_userinfo": "userinfo", "floor_introspection": "introspection"}
FLOOR_FOR = {workload: floor for floor, workload in FLOOR_OF.items()}
# The workloads the peer (node-oidc-provider, bench/peer/) serves too, and its paths for them.
PEER_PATHS = {"discovery": "/.well-known/openid-configuration", "jwks": "/jwks", "client_credentials": "/token",
              "client_credentials_jwt_rs256": "/token", "client_credentials_jwt_es256": "/token",
              "introspection": "/token/introspection"}
# A peer workload whose two runs (before and after the provider's) differ by more than this is noisy.
NOISE = 0.25
SERVICES = ("postgresql", "redis", "slapd")


@dataclass(frozen=True)
class Target:
    """A target of issue 20: ``workload``'s rate per CPU-second >= ``factor`` x a reference measured in the
    same run.

    ``reference`` is ``peer:<workload>`` (the peer's median rate), ``self:<workload>`` (the provider's own
    rate), ``argon2`` (argon2id hashes per CPU-second at the same cost) or ``ceiling`` (the bare Flask
    app).  ``cpu`` says whose CPU the workload's rate divides by: the provider's, or the provider's plus
    slapd's (``provider+slapd``).
    """

    workload: str
    factor: float
    reference: str
    text: str
    cpu: str = "provider"


TARGETS = (
    Target("client_credentials", 0.8, "peer:client_credentials", ">= 0.8 x peer"),
    Target("client_credentials_jwt_rs256", 0.9, "peer:client_credentials_jwt_rs256", ">= 0.9 x peer"),
    Target("client_credentials_jwt_es256", 0.9, "peer:client_credentials_jwt_es256", ">= 0.9 x peer"),
    Target("discovery", 0.9, "peer:discovery", ">= 0.9 x peer"),
    Target("jwks", 0.9, "peer:jwks", ">= 0.9 x peer"),
    Target("introspection", 0.6, "peer:client_credentials", ">= 0.6 x peer's client_credentials"),
    Target("userinfo", 0.6, "peer:client_credentials", ">= 0.6 x peer's client_credentials"),
    Target("refresh", 0.5, "self:client_credentials", ">= 0.5 x own client_credentials"),
    Target("citizen_signin", 0.7, "argon2", ">= 0.7 x argon2id hashes"),
    Target("staff_signin", 1 / 25, "ceiling", ">= 1/25 x ceiling, slapd CPU counted", cpu="provider+slapd"),
)
TARGET_OF = {t.workload: t for t in TARGETS}


# ------------------------------------------------------------------------------ processes
def cpu_by_pid(procs: list[psutil.Process]) -> dict[int, float]:
    out: dict[int, float] = {}
    for p in procs:
        try:
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return out


SERVE_THREADS = 4  # idp serve's default threads per worker (the ceiling app gets the same)
SERVER_TEXT = {"granian": "idp serve (Granian, {workers} workers x 4 threads)",
               "gunicorn": "gunicorn (gunicorn.conf.py, {workers} gthread workers x 4 threads)"}


def start_server(kind: str, name: str, app: str, workers: int, env: dict[str, str], workdir: Path) -> Server:
    """The provider (``app`` is ``idp``) or the ceiling app under the production server ``kind``:
    ``granian`` (``idp serve``'s command, the default) or ``gunicorn`` (``gunicorn.conf.py``)."""
    port = services.free_port()
    log = workdir / f"{name}-{kind}.log"
    metrics_dir = workdir / f"{name}-metrics"  # each server's own metric files
    metrics_dir.mkdir(exist_ok=True)
    if kind == "granian":
        # The production command of `idp serve`, or the same Granian command line for the ceiling app.
        cmd = ([str(BIN / "idp"), "serve", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
               if app == "idp" else
               serve.command_line("127.0.0.1", port, workers, SERVE_THREADS, None, "warning", target=app))
    else:
        # The production configuration file; the command line sets what the benchmark varies.
        cmd = [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "-w", str(workers),
               "-b", f"127.0.0.1:{port}", "--timeout", "60", "--chdir", str(ROOT),
               "idp:create_app()" if app == "idp" else app]
    with open(log, "ab") as handle:
        proc = subprocess.Popen(
            cmd, cwd=ROOT,
            env={**env, "IDP_ISSUER": f"http://127.0.0.1:{port}", "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)},
            stdout=handle, stderr=handle)
    services.wait_port(port, timeout=30, proc=proc)
    server = Server(name=name, proc=proc, port=port, log=log)
    deadline = time.monotonic() + 30
    while len(server.workers()) < workers and time.monotonic() < deadline:
        time.sleep(0.1)
    return server


# ------------------------------------------------------------------------------ results
@dataclass
class Row:
    """One workload's measurement."""

    name: str
    unit: str = "req"
    count: int = 0
    errors: int = 0
    wall_s: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    provider_cpu_s: float = 0.0  # the measured server's CPU: its master + workers, or the peer's node
    services_cpu_s: float = 0.0
    services: dict[str, float] = field(default_factory=dict)  # CPU-s of each of SERVICES
    loadgen_cpu_s: float = 0.0
    worker_rss_mib: float = 0.0
    # Issue 8's target (absolute, kept as a secondary figure; issue 20's same-run targets are TARGETS).
    target: str = ""
    target_value: float | None = None
    target_kind: str = "per_cpu"  # per_cpu: per CPU-second; ceiling: fraction of the ceiling
    note: str = ""
    supported: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> int:
        """Completed requests (or flows) without an error: only these count in the rates."""
        return max(0, self.count - self.errors)

    @property
    def rate(self) -> float:
        return self.ok / self.wall_s if self.wall_s else 0.0

    @property
    def per_cpu(self) -> float:
        return self.ok / self.provider_cpu_s if self.provider_cpu_s else 0.0

    @property
    def per_cpu_all(self) -> float:
        """Units per CPU-second of the server *and* PostgreSQL, Redis and slapd: the whole cost."""
        cpu = self.provider_cpu_s + self.services_cpu_s
        return self.ok / cpu if cpu else 0.0

    def per_cpu_of(self, cpu: str) -> float:
        """Units per CPU-second of ``provider`` or ``provider+<service>+...`` (see :class:`Target`)."""
        first, *extra = cpu.split("+")
        total = self.provider_cpu_s + sum(self.services.get(name, 0.0) for name in extra)
        return self.ok / total if total and first == "provider" else 0.0

    def as_dict(self, ceiling: float) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items()}
        out.update(rate=self.rate, per_cpu=self.per_cpu, per_cpu_all=self.per_cpu_all,
                   of_ceiling=(self.per_cpu / ceiling) if ceiling and self.supported else None,
                   met_issue8=self.met(ceiling))
        return out

    def met(self, ceiling: float) -> bool | None:
        if not self.supported or self.target_value is None or not self.ok:
            return None if self.supported else False
        if self.target_kind == "ceiling":
            return bool(ceiling) and self.per_cpu / ceiling >= self.target_value
        return self.per_cpu >= self.target_value


# ------------------------------------------------------------------------------ the bench
class Bench:
    """Everything one run starts, seeds and measures; :meth:`close` stops it all."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.workdir = Path(tempfile.mkdtemp(prefix="idp-bench-"))
        self.stack: list[Callable[[], None]] = []
        self.env: dict[str, str] = {}
        self.rows: list[Row] = []
        self.ceiling_per_cpu = 0.0
        self.floor_secret = secrets.token_urlsafe(24)  # the floor's clients (bench/ceiling_app.py)
        self.ldap_client: dict[str, Any] = {}
        self.memory: dict[str, Any] = {}
        self.seeds: dict[str, Any] = {}
        self.peer: peer_oidc.PeerServer | None = None
        self.peer_info: dict[str, Any] = {}
        # Each peer workload's runs, in order: before the provider's workloads, after, and a repeat if noisy.
        self.peer_runs: dict[str, list[Row]] = {}
        self.argon2: dict[str, Any] = {}

    # --- set-up ---
    def close(self) -> None:
        while self.stack:
            try:
                self.stack.pop()()
            except Exception as exc:  # noqa: BLE001 - keep stopping the rest
                print(f"  (stop failed: {exc})", file=sys.stderr)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def say(self, text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)

    def start_services(self) -> None:
        self.say("starting PostgreSQL, Redis and slapd on free ports")
        pg = services.start_postgres()
        self.stack.append(pg.stop)
        self.pg = pg
        redis_svc = services.start_redis()
        self.stack.append(redis_svc.stop)
        self.redis = redis_svc
        from tests.ldap import slapd as slapd_module

        self.slapd_module = slapd_module
        directory = slapd_module.start_slapd()
        self.stack.append(directory.destroy)
        self.directory = directory
        db_url = services.create_database(pg.url, "idp_bench")
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("IDP_")},
            "IDP_ENV": "development",
            "IDP_INSTANCE_DIR": str(self.workdir / "instance"),
            "IDP_DATABASE_URL": db_url,
            "IDP_REDIS_URL": redis_svc.url,
            "IDP_SECRET_KEY": secrets.token_urlsafe(48),
            "IDP_HASH_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "IDP_DATA_KEYS": "bench1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "IDP_LOG_LEVEL": "WARNING",
            # All the load comes from one address: the /authorize flood limits are not what is measured
            # (they still count, so their store round trips are in the sign-in numbers).
            "IDP_AUTH_REQUESTS_PER_IP": "1000000",
            "IDP_AUTH_REQUESTS_MAX": "10000000",
            "IDP_LDAP_URLS": directory.url,
            "IDP_LDAP_ALLOW_PLAINTEXT": "true",
            "IDP_LDAP_BIND_DN": slapd_module.SERVICE_DN,
            "IDP_LDAP_BIND_PASSWORD": slapd_module.SERVICE_PASSWORD,
            "IDP_LDAP_USER_BASE": slapd_module.PEOPLE,
            "IDP_LDAP_ATTR_DISABLED": "employeeType",
            "PYTHONWARNINGS": "ignore",
            **KEYCLOAK_ARGON2,
        }

    def idp(self, *args: str) -> str:
        result = subprocess.run([str(BIN / "idp"), *args], env=self.env, capture_output=True, text=True,
                                cwd=ROOT, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"idp {' '.join(args)} failed: {result.stderr[-2000:]}")
        return result.stdout

    def seed(self) -> None:
        """Schema, signing keys, the demo citizen and client, and a client-credentials client."""
        self.say("migrating, creating keys, the demo citizen and the clients")
        self.idp("db", "upgrade")
        self.idp("keys", "ensure")
        self.idp("demo", "--redirect-uri", REDIRECT_URI)
        demo = json.loads((self.workdir / "instance" / "demo.json").read_text())
        self.seeds["rp"] = {"client_id": demo["client_id"], "secret": demo["client_secret"]}
        # Three service clients: opaque access tokens, and JWT access tokens (RFC 9068) signed RS256 / ES256.
        script = (
            "import json\n"
            "from idp import create_app\n"
            "from idp.extensions import db\n"
            "from idp.oauth import registration\n"
            "app = create_app()\n"
            "out = {}\n"
            "with app.app_context():\n"
            "    for name, extra in (('service', {}), ('service_rs256', {'access_token_format': 'jwt', "
            "'access_token_signed_response_alg': 'RS256'}), ('service_es256', {'access_token_format': 'jwt', "
            "'access_token_signed_response_alg': 'ES256'})):\n"
            "        row, secret = registration.create_client({'client_name': 'Bench ' + name, "
            "'grant_types': ['client_credentials'], 'token_endpoint_auth_method': 'client_secret_basic', "
            "**extra}, created_by='bench')\n"
            "        out[name] = {'client_id': row.client_id, 'secret': secret}\n"
            "    db.session.commit()\n"
            "print(json.dumps(out))\n"
        )
        out = subprocess.run([sys.executable, "-c", script], env=self.env, capture_output=True, text=True,
                             cwd=ROOT, timeout=120, check=True)
        self.seeds.update(json.loads(out.stdout.strip().splitlines()[-1]))
        from idp.cli import demo as demo_module

        self.seeds["citizen"] = (demo_module.DEMO_NIK, demo_module.DEMO_PASSWORD)

    def start_servers(self) -> None:
        workers = self.args.workers
        kind = self.args.server
        self.say(f"starting {SERVER_TEXT[kind].format(workers=workers)} for the provider and for the ceiling app")
        self.provider = start_server(kind, "provider", "idp", workers, self.env, self.workdir)
        self.stack.append(lambda: services.stop_process(self.provider.proc))
        self.ceiling = start_server(kind, "ceiling", "bench.ceiling_app:app", workers,
                                    {**self.env, "BENCH_FLOOR_SECRET": self.floor_secret}, self.workdir)
        self.stack.append(lambda: services.stop_process(self.ceiling.proc))
        for server, path in ((self.provider, "/healthz"), (self.ceiling, "/ping")):
            for _ in range(workers * 4):
                requests.get(server.url + path, timeout=10).raise_for_status()
        self.rp = flows.Rp(base=self.provider.url, client_id=self.seeds["rp"]["client_id"],
                           secret=self.seeds["rp"]["secret"], redirect_uri=REDIRECT_URI)

    def seed_tokens(self) -> None:
        """Consent for the citizen and the staff member, access tokens and two sets of refresh tokens
        (one for the warm-up, one for the measurement: a rotated token is never used twice)."""
        self.say("signing in once through the pages to give consent and obtain tokens")
        identifier, password = self.seeds["citizen"]
        per_set = self.args.connections * 3
        offline = flows.Rp(**{**self.rp.__dict__, "scope": "openid profile email offline_access"})
        got = flows.seed_tokens(offline, identifier, password, "citizen", 2 * per_set)
        refresh = [t["refresh_token"] for t in got if t.get("refresh_token")]
        if len(refresh) < 2 * per_set:
            raise RuntimeError(f"expected {2 * per_set} refresh tokens, got {len(refresh)}")
        for i, name in enumerate(("warmup", "measure")):
            path = self.workdir / f"refresh-{name}.txt"
            path.write_text("\n".join(refresh[i * per_set:(i + 1) * per_set]) + "\n")
            self.seeds[f"refresh_{name}"] = str(path)
        self.seeds["access_token"] = got[-1]["access_token"]
        self.seeds["staff"] = STAFF  # a person of tests/ldap/seed.ldif
        flows.full_flow(self.rp, *STAFF, "ldap", allow_consent=True)

    def start_peer(self) -> None:
        """node-oidc-provider (bench/peer/) with the provider's three service clients, on the private Redis
        (database 1, keys under ``peer:``), as one Node process on a free loopback port."""
        took = peer_oidc.install()
        self.say(f"starting the peer, node-oidc-provider {peer_oidc.version()}"
                 + (f" (npm ci took {took:.1f} s)" if took else ""))
        clients = [{"client_id": self.seeds[name]["client_id"], "client_secret": self.seeds[name]["secret"],
                    "format": fmt, "alg": alg}
                   for name, fmt, alg in (("service", "opaque", ""), ("service_rs256", "jwt", "RS256"),
                                          ("service_es256", "jwt", "ES256"))]
        redis_url = self.redis.url.rsplit("/", 1)[0] + "/1"
        self.peer = peer_oidc.start(services.free_port(), redis_url, clients, self.workdir / "peer.log")
        self.stack.append(self.peer.stop)
        for client in clients:  # every client gets a token before anything is measured
            peer_oidc.client_credentials(self.peer, client["client_id"], client["client_secret"])
        self.peer_info = {"software": "node-oidc-provider", "version": peer_oidc.version(),
                          "node": peer_oidc.node_version(),
                          "install_s": round(took, 1), "processes": 1}

    # --- measuring ---
    def service_procs(self) -> dict[str, list[psutil.Process]]:
        """The processes of each of SERVICES (PostgreSQL: the postmaster and its backends)."""
        procs: dict[str, list[psutil.Process]] = {name: [] for name in SERVICES}
        for name, proc in (("redis", self.redis.proc), ("slapd", self.directory.proc)):
            if proc is not None:
                procs[name].append(psutil.Process(proc.pid))
        pidfile = Path(self.pg.extra["data"]) / "postmaster.pid"
        try:
            master = psutil.Process(int(pidfile.read_text().split()[0]))
            procs["postgresql"] += [master, *master.children(recursive=True)]
        except (OSError, ValueError, psutil.NoSuchProcess):
            pass
        return procs

    def measure(self, row: Row, server: Server | peer_oidc.PeerServer, command: list[str], env: dict[str, str],
                parse: Callable[[dict[str, Any], Row], None]) -> Row:
        """Run ``command`` (the load generator) once and fill ``row`` from its BENCH_JSON line."""
        svc0 = {name: cpu_by_pid(procs) for name, procs in self.service_procs().items()}
        cpu0 = server.cpu_seconds()
        kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT,
                                timeout=max(self.args.duration, self.args.peer_duration) + 120)
        kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        row.provider_cpu_s = server.cpu_seconds() - cpu0
        # Per process: a PostgreSQL backend that started during the workload counts from zero.
        svc1 = {name: cpu_by_pid(procs) for name, procs in self.service_procs().items()}
        row.services = {name: sum(max(0.0, cpu - svc0[name].get(pid, 0.0)) for pid, cpu in svc1[name].items())
                        for name in SERVICES}
        row.services_cpu_s = sum(row.services.values())
        row.loadgen_cpu_s = (kids1.ru_utime + kids1.ru_stime) - (kids0.ru_utime + kids0.ru_stime)
        rss = [p.memory_info().rss for p in server.workers()]
        row.worker_rss_mib = max(rss) / MIB if rss else 0.0
        line = next((ln for ln in result.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
        if line is None:
            raise RuntimeError(f"{row.name}: the load generator printed no result\n{result.stdout[-2000:]}\n"
                               f"{result.stderr[-2000:]}")
        parse(json.loads(line.removeprefix("BENCH_JSON ")), row)
        if row.errors and result.stderr.strip():
            row.extra["loadgen_stderr"] = result.stderr[-1500:]
            self.say(f"  load generator said: {result.stderr.strip()[-600:]}")
        return row

    def wrk(self, row: Row, server: Server | peer_oidc.PeerServer, path: str, *, method: str = "GET",
            auth: str = "", body: str = "", mode: str = "plain", tokens: str = "", warm_tokens: str = "",
            duration: float | None = None, warmup: float | None = None) -> Row:
        threads = self.args.threads
        duration = self.args.duration if duration is None else duration
        warmup = self.args.warmup if warmup is None else warmup
        env = {**os.environ, "BENCH_METHOD": method, "BENCH_PATH": path, "BENCH_AUTH": auth, "BENCH_BODY": body,
               "BENCH_MODE": mode, "BENCH_THREADS": str(threads)}

        def command(duration: float) -> list[str]:
            return ["wrk", "-t", str(threads), "-c", str(self.args.connections), "-d", f"{duration:g}s",
                    "--timeout", "10s", "-s", str(LUA), server.url + path]

        def parse(data: dict[str, Any], r: Row) -> None:
            r.count = int(data["requests"])
            r.wall_s = data["duration_us"] / 1e6
            r.errors = sum(int(data[k]) for k in ("connect_errors", "read_errors", "write_errors",
                                                  "status_errors", "timeouts"))
            r.p50_ms, r.p99_ms = data["p50_us"] / 1000, data["p99_us"] / 1000
            r.extra["wrk"] = data

        if warmup:
            subprocess.run(command(warmup), env={**env, "BENCH_TOKENS": warm_tokens or tokens},
                           capture_output=True, timeout=warmup + 60)
        return self.measure(row, server, command(duration), {**env, "BENCH_TOKENS": tokens}, parse)

    def flow(self, row: Row, identifier: str, password: str, kind: str) -> Row:
        def command(duration: float) -> list[str]:
            return [sys.executable, str(ROOT / "bench" / "flows.py"), "--base", self.rp.base,
                    "--client-id", self.rp.client_id, "--redirect-uri", self.rp.redirect_uri,
                    "--identifier", identifier, "--kind", kind, "--duration", f"{duration:g}",
                    "--concurrency", str(self.args.flow_concurrency)]

        # Secrets go through the environment, not the command line (visible to every user in ps).
        env = {**os.environ, "BENCH_PASSWORD": password, "BENCH_CLIENT_SECRET": self.rp.secret}

        def parse(data: dict[str, Any], r: Row) -> None:
            r.errors, r.wall_s = int(data["errors"]), float(data["wall_s"])
            r.count = int(data["flows"]) + r.errors
            r.p50_ms, r.p99_ms = data["p50_us"] / 1000, data["p99_us"] / 1000
            r.extra["flows"] = data

        if self.args.warmup:
            subprocess.run(command(self.args.warmup), env=env, capture_output=True, timeout=self.args.warmup + 120)
        return self.measure(row, self.provider, command(self.args.duration), env, parse)

    # --- workloads ---
    def workloads(self) -> dict[str, Callable[[], Row]]:
        p = self.provider
        svc = self.seeds["service"]
        svc_auth = flows.Rp(base="", client_id=svc["client_id"], secret=svc["secret"],
                            redirect_uri="").basic()["Authorization"]
        rp_auth = self.rp.basic()["Authorization"]
        bearer = "Bearer " + self.seeds["access_token"]

        def auth_of(name: str) -> str:
            seed = self.seeds[name]
            return flows.Rp(base="", client_id=seed["client_id"], secret=seed["secret"],
                            redirect_uri="").basic()["Authorization"]

        def floor_auth(client_id: str) -> str:
            return flows.Rp(base="", client_id=client_id, secret=self.floor_secret,
                            redirect_uri="").basic()["Authorization"]

        def floor(name: str, client_id: str, note: str) -> Row:
            return self.wrk(Row(name=name, note=note), self.ceiling, "/token", method="POST",
                            auth=floor_auth(client_id), body="grant_type=client_credentials")

        def floor_token() -> str:
            answer = requests.post(self.ceiling.url + "/token", data={"grant_type": "client_credentials"},
                                   headers={"Authorization": floor_auth("floor-opaque")}, timeout=10)
            answer.raise_for_status()
            return str(answer.json()["access_token"])

        return {
            "ceiling": lambda: self.wrk(Row(name="ceiling", note="bare Flask JSON endpoint, same server"),
                                        self.ceiling, "/ping"),
            "discovery": lambda: self.wrk(Row(name="discovery", target=">= 0.9 x ceiling", target_value=0.9,
                                              target_kind="ceiling"), p, "/.well-known/openid-configuration"),
            "jwks": lambda: self.wrk(Row(name="jwks", target=">= 0.9 x ceiling", target_value=0.9,
                                         target_kind="ceiling"), p, "/jwks.json"),
            "client_credentials": lambda: self.wrk(
                Row(name="client_credentials", target=">= 1000 /CPU-s", target_value=1000,
                    note="opaque access token"),
                p, "/token", method="POST", auth=svc_auth, body="grant_type=client_credentials"),
            "client_credentials_jwt_rs256": lambda: self.wrk(
                Row(name="client_credentials_jwt_rs256", target=">= 600 /CPU-s", target_value=600,
                    note="JWT access token (RFC 9068), RS256"),
                p, "/token", method="POST", auth=auth_of("service_rs256"), body="grant_type=client_credentials"),
            "client_credentials_jwt_es256": lambda: self.wrk(
                Row(name="client_credentials_jwt_es256", target=">= 1000 /CPU-s", target_value=1000,
                    note="JWT access token (RFC 9068), ES256"),
                p, "/token", method="POST", auth=auth_of("service_es256"), body="grant_type=client_credentials"),
            "floor_client_credentials": lambda: floor("floor_client_credentials", "floor-opaque",
                                                      "floor: Flask + Authlib alone, opaque"),
            "floor_client_credentials_jwt_rs256": lambda: floor("floor_client_credentials_jwt_rs256", "floor-rs256",
                                                                "floor: Flask + Authlib alone, RS256 JWT"),
            "floor_client_credentials_jwt_es256": lambda: floor("floor_client_credentials_jwt_es256", "floor-es256",
                                                                "floor: Flask + Authlib alone, ES256 JWT"),
            "refresh": lambda: self.wrk(
                Row(name="refresh", target=">= 600 /CPU-s", target_value=600, note="rotation on every use"),
                p, "/token", method="POST", auth=rp_auth, mode="refresh", tokens=self.seeds["refresh_measure"],
                warm_tokens=self.seeds["refresh_warmup"]),
            "userinfo": lambda: self.wrk(Row(name="userinfo", note="citizen access token"), p, "/userinfo",
                                         auth=bearer),
            "floor_userinfo": lambda: self.wrk(
                Row(name="floor_userinfo", note="floor: Authlib's resource protector, claims in the token's record"),
                self.ceiling, "/userinfo", auth="Bearer " + floor_token()),
            "introspection": lambda: self.wrk(
                Row(name="introspection", note="active access token, resource server authenticates"),
                p, "/introspect", method="POST", auth=svc_auth,
                body="token=" + self.seeds["access_token"] + "&token_type_hint=access_token"),
            "floor_introspection": lambda: self.wrk(
                Row(name="floor_introspection", note="floor: Authlib's introspection endpoint"),
                self.ceiling, "/introspect", method="POST", auth=floor_auth("floor-opaque"),
                body="token=" + floor_token() + "&token_type_hint=access_token"),
            "citizen_signin": lambda: self.flow(
                Row(name="citizen_signin", unit="flow", target=">= 30 /CPU-s", target_value=30,
                    note="argon2id t=5 m=7MiB; 6 requests per flow"),
                self.seeds["citizen"][0], self.seeds["citizen"][1], "citizen"),
            "staff_signin": lambda: self.flow(
                Row(name="staff_signin", unit="flow", note="LDAP search + bind on slapd; 6 requests per flow"),
                STAFF[0], STAFF[1], "ldap"),
        }

    def peer_workloads(self) -> dict[str, Callable[[], Row]]:
        """The peer's side of the workloads in PEER_PATHS: the same wrk script, threads and connections."""
        peer = self.peer
        assert peer is not None

        def auth_of(name: str) -> str:
            seed = self.seeds[name]
            return flows.Rp(base="", client_id=seed["client_id"], secret=seed["secret"],
                            redirect_uri="").basic()["Authorization"]

        def run(name: str, **kwargs: Any) -> Row:
            # V8 compiles the hot paths during the first pass's warm-up; later passes only reopen connections.
            warmup = self.args.peer_warmup if name not in self.peer_runs else min(1.0, self.args.peer_warmup)
            return self.wrk(Row(name=name, note="peer"), peer, PEER_PATHS[name], duration=self.args.peer_duration,
                            warmup=warmup, **kwargs)

        def introspection() -> Row:
            # A fresh opaque token of the service client (the peer's tokens live 900 s, as the provider's).
            svc = self.seeds["service"]
            token = peer_oidc.client_credentials(peer, svc["client_id"], svc["secret"])["access_token"]
            return run("introspection", method="POST", auth=auth_of("service"),
                       body=f"token={token}&token_type_hint=access_token")

        cc = {"method": "POST", "body": "grant_type=client_credentials"}
        return {
            "discovery": lambda: run("discovery"),
            "jwks": lambda: run("jwks"),
            "client_credentials": lambda: run("client_credentials", auth=auth_of("service"), **cc),
            "client_credentials_jwt_rs256": lambda: run("client_credentials_jwt_rs256",
                                                        auth=auth_of("service_rs256"), **cc),
            "client_credentials_jwt_es256": lambda: run("client_credentials_jwt_es256",
                                                        auth=auth_of("service_es256"), **cc),
            "introspection": introspection,
        }

    def peer_pass(self, label: str, names: list[str]) -> None:
        """Measure the peer on ``names``; each run is appended to ``peer_runs`` with its pass label."""
        if not names:
            return
        self.say(f"peer ({label}): {', '.join(names)}")
        table = self.peer_workloads()
        for name in names:
            row = table[name]()
            row.extra["pass"] = label
            self.peer_runs.setdefault(name, []).append(row)
            self.say(f"  peer {name}: {row.ok} {row.unit}s, {row.errors} errors, {row.per_cpu:.0f} per peer "
                     f"CPU-second")

    def measure_ldap(self, rounds: int = 200) -> None:
        """ldap3's client CPU for one staff sign-in's directory work at its least: a search for the user on
        an already bound service connection, then a bind as the user on a new connection (what the
        provider's connector does, without its pool, failover or attribute mapping); thread CPU in this
        process.  Part of the staff sign-in target's bound (:func:`floor_bounds`)."""
        from ldap3 import NONE, Connection, Server

        server = Server(self.directory.url, connect_timeout=5, get_info=NONE)  # as the connector's servers
        service = Connection(server, user=self.slapd_module.SERVICE_DN, password=self.slapd_module.SERVICE_PASSWORD,
                             read_only=True, auto_bind=True, receive_timeout=5)
        try:
            cpu0 = time.thread_time()
            for _ in range(rounds):
                service.search(self.slapd_module.PEOPLE, f"(uid={STAFF[0]})", attributes=["cn", "mail"])
                dn = service.entries[0].entry_dn
                user = Connection(server, user=dn, password=STAFF[1], read_only=True, receive_timeout=5)
                if not user.bind():
                    raise RuntimeError("the bench's staff member could not bind")
                user.unbind()
            used = time.thread_time() - cpu0
        finally:
            service.unbind()
        self.ldap_client = {"rounds": rounds, "cpu_s": round(used, 3), "ms": 1000 * used / rounds}
        self.say(f"  ldap3 search + bind: {self.ldap_client['ms']:.2f} ms of client CPU")

    def measure_argon2(self) -> None:
        """argon2id hashes per CPU-second at the provider's cost, in this process (one thread, as one
        sign-in's check): the reference of the citizen sign-in target."""
        from argon2 import PasswordHasher, Type

        cost = {"time_cost": int(KEYCLOAK_ARGON2["IDP_ARGON2_TIME_COST"]),
                "memory_cost": int(KEYCLOAK_ARGON2["IDP_ARGON2_MEMORY_KIB"]),
                "parallelism": int(KEYCLOAK_ARGON2["IDP_ARGON2_PARALLELISM"])}
        hasher = PasswordHasher(**cost, hash_len=32, salt_len=16, type=Type.ID)  # as idp.passwords.hasher()
        seconds = self.args.argon2_seconds
        count, cpu0 = 0, time.thread_time()
        while True:
            hasher.hash("Bench-Pass-2026!")
            count += 1
            used = time.thread_time() - cpu0
            if used >= seconds and count >= 3:
                break
        self.argon2 = {**cost, "hashes": count, "cpu_s": round(used, 3), "per_cpu": count / used}
        self.say(f"  argon2id (t={cost['time_cost']}, m={cost['memory_cost']} KiB): {count / used:.1f} hashes "
                 "per CPU-second")

    def session_memory(self, sessions: int) -> None:
        """Bytes per sign-in session in Redis: ``sessions`` copies of a real session entry."""
        import redis as redis_lib

        conn = redis_lib.Redis.from_url(self.redis.url)
        try:
            real = next(iter(conn.scan_iter(match="idp:sid:*", count=1000)), None)
            if real is None:
                self.memory["session_note"] = "no session in Redis (run a sign-in workload first)"
                return
            dump, ttl = conn.dump(real), max(conn.pttl(real), 3_600_000)
            if not isinstance(dump, bytes):
                return
            single = conn.memory_usage(real) or 0
            conn.execute_command("MEMORY", "PURGE")
            before = int(conn.info("memory")["used_memory"])
            pipe = conn.pipeline(transaction=False)
            for i in range(sessions):
                # The same key shape as the provider's (namespace, kind, 43-character hash).
                key = f"idp:sid:{base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b'=').decode()}"
                pipe.restore(key, ttl, dump)
                if i % 5000 == 4999:
                    pipe.execute()
            pipe.execute()
            after = int(conn.info("memory")["used_memory"])
            value = conn.get(real) or b""
            self.memory.update(sessions=sessions, bytes_per_session=(after - before) / sessions,
                               memory_usage_one_key=single, value_bytes=len(value), key_bytes=len(real))
        finally:
            conn.close()

    def profile(self, name: str, run: Callable[[], Row]) -> Row:
        """Run a workload while py-spy samples every provider worker; write collapsed stacks."""
        spy = BIN / "py-spy"
        out = Path(self.args.out) / "profiles"
        out.mkdir(parents=True, exist_ok=True)
        procs = []
        for worker in self.provider.workers():
            target = out / f"{name}-{worker.pid}.txt"
            procs.append((target, subprocess.Popen(
                [str(spy), "record", "--nonblocking", "-r", "200", "-d", str(int(self.args.duration + self.args.warmup
                                                                               + 2)),
                 "-f", "raw", "-o", str(target), "-p", str(worker.pid)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
        row = run()
        merged: Counter[str] = Counter()
        for target, proc in procs:
            proc.wait(60)
            if target.exists():
                for line in target.read_text().splitlines():
                    stack, _, count = line.rpartition(" ")
                    if count.isdigit():
                        merged[stack] += int(count)
                target.unlink()
        (out / f"{name}.collapsed.txt").write_text("".join(f"{s} {c}\n" for s, c in merged.most_common()))
        row.extra["profile"] = summarize_profile(merged)
        return row

    # --- run ---
    def run(self) -> None:
        wanted = self.args.only.split(",") if self.args.only else None
        table = self.workloads()
        assert list(table) == list(WORKLOADS), "WORKLOADS must list the workloads in order"
        if wanted is not None:  # a floor row runs whenever the workload it bounds does
            wanted += [FLOOR_FOR[n] for n in wanted if n in FLOOR_FOR]
        names = ["ceiling"] + [n for n in table if n != "ceiling" and (wanted is None or n in wanted)]
        profiled = set(self.args.profile.split(",")) if self.args.profile else set()
        peer_names = [n for n in names if n in PEER_PATHS] if self.peer is not None else []
        self.peer_pass("before", peer_names)
        for name in names:
            self.say(f"workload {name}")
            if name == "citizen_signin":
                self.measure_argon2()
            if name == "staff_signin":
                self.measure_ldap()
            runner = table[name]
            row = self.profile(name, runner) if name in profiled else runner()
            if name == "ceiling":
                self.ceiling_per_cpu = row.per_cpu
            self.rows.append(row)
            if row.supported:
                self.say(f"  {row.ok} {row.unit}s in {row.wall_s:.1f} s, {row.errors} errors, "
                         f"{row.per_cpu:.0f} per provider CPU-second")
            else:
                self.say(f"  {row.note}")
        self.peer_pass("after", peer_names)
        noisy = [n for n in peer_names if peer_summary(self.peer_runs[n])["noisy"]]
        if noisy:
            self.say(f"the peer's before/after runs differ by more than {NOISE:.0%} on {', '.join(noisy)}: "
                     "measuring once more")
            self.peer_pass("repeat", noisy)
            still = [n for n in noisy if peer_summary(self.peer_runs[n])["still_noisy"]]
            if still:
                self.say(f"STILL NOISY (no two of the three peer runs within {NOISE:.0%}): {', '.join(still)}; "
                         "their 'x peer' ratios are unreliable in this run")
        if any(n in names for n in ("citizen_signin", "staff_signin")):
            self.session_memory(self.args.sessions)


def spread(values: list[float]) -> float:
    """How far apart two rates are: larger / smaller - 1 (infinite when one is zero)."""
    low, high = min(values), max(values)
    return high / low - 1 if low > 0 else float("inf")


def peer_summary(runs: list[Row]) -> dict[str, Any]:
    """The peer's figure for one workload: the median of its runs; noisy when before and after differ by
    more than NOISE; after a repeat, still noisy when no two of the three runs are within NOISE."""
    rates = [r.per_cpu for r in runs]
    first = spread(rates[:2]) if len(rates) >= 2 else 0.0
    pairs = [spread([a, b]) for i, a in enumerate(rates) for b in rates[i + 1:]]
    return {"per_cpu": statistics.median(rates) if rates else 0.0,
            "per_cpu_all": statistics.median([r.per_cpu_all for r in runs]) if runs else 0.0,
            "rate": statistics.median([r.rate for r in runs]) if runs else 0.0,
            "runs_per_cpu": rates, "spread": first, "noisy": first > NOISE, "repeated": len(rates) > 2,
            "still_noisy": len(rates) > 2 and min(pairs) > NOISE}


def summarize_profile(stacks: Counter[str], top: int = 25) -> dict[str, Any]:
    """Inclusive and self sample shares per function from py-spy's collapsed stacks."""
    total = sum(stacks.values()) or 1
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for stack, count in stacks.items():
        frames = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].rsplit("/", 1)[-1] + ")"
                  if " (" in f else f for f in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] += count
        if frames:
            own[frames[-1]] += count
    return {"samples": total,
            "inclusive": [(f, round(100 * c / total, 1)) for f, c in inclusive.most_common(top)],
            "self": [(f, round(100 * c / total, 1)) for f, c in own.most_common(top)]}


# ------------------------------------------------------------------------------ report
def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model or platform.processor(), "cores": os.cpu_count(),
            "memory_gib": round(psutil.virtual_memory().total / 1024**3, 1), "python": platform.python_version(),
            "system": f"{platform.system()} {platform.release()}", "machine": platform.machine()}


def _fmt(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def peer_summaries(bench: Bench) -> dict[str, dict[str, Any]]:
    return {name: peer_summary(runs) for name, runs in bench.peer_runs.items()}


def x_peer(bench: Bench) -> dict[str, dict[str, float]]:
    """Provider / peer (median of the peer's runs) for every workload both served, per CPU-second of the
    server alone and with the services' CPU counted."""
    peer = peer_summaries(bench)
    out: dict[str, dict[str, float]] = {}
    for row in bench.rows:
        ref = peer.get(FLOOR_OF.get(row.name, row.name))
        if ref and row.supported and ref["per_cpu"] and ref["per_cpu_all"]:
            out[row.name] = {"per_cpu": row.per_cpu / ref["per_cpu"],
                             "per_cpu_all": row.per_cpu_all / ref["per_cpu_all"]}
    return out


def evaluate_targets(bench: Bench) -> list[dict[str, Any]]:
    """Each target of TARGETS whose workload ran: the measured rate, its same-run reference, the ratio and
    met (``None`` when the reference was not measured, e.g. ``--no-peer``)."""
    rows = {r.name: r for r in bench.rows if r.supported}
    peer = peer_summaries(bench)
    out: list[dict[str, Any]] = []
    for t in TARGETS:
        row = rows.get(t.workload)
        if row is None:
            continue
        kind, _, ref_name = t.reference.partition(":")
        ref: float | None = None
        noisy = False
        if kind == "peer" and ref_name in peer:
            ref, noisy = peer[ref_name]["per_cpu"], bool(peer[ref_name]["still_noisy"])
        elif kind == "self" and ref_name in rows:
            ref = rows[ref_name].per_cpu
        elif kind == "argon2":
            ref = bench.argon2.get("per_cpu")
        elif kind == "ceiling":
            ref = bench.ceiling_per_cpu
        measured = row.per_cpu_of(t.cpu)
        ratio = measured / ref if ref else None
        # What the floor (Flask + Authlib alone) reaches against the same reference: a target above it
        # cannot be met by any provider that keeps this stack.
        floor = rows.get(FLOOR_FOR.get(t.workload, ""))
        floor_ratio = floor.per_cpu / ref if floor is not None and floor.ok and ref else None
        out.append({"workload": t.workload, "target": t.text, "factor": t.factor, "reference": t.reference,
                    "cpu": t.cpu, "measured_per_cpu": measured, "reference_per_cpu": ref, "ratio": ratio,
                    "met": None if ratio is None or not row.ok else ratio >= t.factor,
                    "reference_noisy": noisy, "floor_per_cpu": floor.per_cpu if floor is not None else None,
                    "floor_ratio": floor_ratio,
                    "floor_reaches": None if floor_ratio is None else floor_ratio >= t.factor})
    return out


def floor_bounds(bench: Bench) -> dict[str, dict[str, Any]]:
    """Two targets without a floor row of their own, bounded by the floor's rows of the same run.

    ``refresh``: a refresh answers with an RS256 ID token (OIDC Core 12.2; kept for relying parties that
    need it), so it costs at least the floor's RS256 token; the bound is that rate over the floor's opaque
    token, before the refresh token's lookup and durable rotation.  ``staff_signin``: the target allows
    ``25 / ceiling`` seconds of provider + slapd CPU per flow; slapd's share is measured, and the flow's
    token request (an RS256 ID token) costs at least the floor's RS256 token, its userinfo request the
    floor's userinfo, its directory work ldap3's client CPU for a search and a bind (measured in this run),
    and each of its four other requests at least a bare request of the ceiling app."""
    rows = {r.name: r for r in bench.rows if r.supported and r.ok}
    opaque, rs256 = rows.get("floor_client_credentials"), rows.get("floor_client_credentials_jwt_rs256")
    out: dict[str, dict[str, Any]] = {}
    if opaque is not None and rs256 is not None and "refresh" in rows:
        bound = rs256.per_cpu / opaque.per_cpu
        out["refresh"] = {"factor": TARGET_OF["refresh"].factor, "bound": bound,
                          "reachable": bound >= TARGET_OF["refresh"].factor}
    staff, userinfo = rows.get("staff_signin"), rows.get("floor_userinfo")
    if rs256 is not None and userinfo is not None and staff is not None and bench.ceiling_per_cpu \
            and bench.ldap_client:
        budget_ms = 1000 / (bench.ceiling_per_cpu * TARGET_OF["staff_signin"].factor)
        parts = {"slapd_ms": 1000 * staff.services.get("slapd", 0.0) / staff.ok,
                 "floor_token_ms": 1000 / rs256.per_cpu, "floor_userinfo_ms": 1000 / userinfo.per_cpu,
                 "ldap_client_ms": bench.ldap_client["ms"],
                 # authorize, the sign-in page, the sign-in POST and the resume: each at least a bare request
                 "four_ceiling_requests_ms": 4 * 1000 / bench.ceiling_per_cpu}
        least = sum(parts.values())
        out["staff_signin"] = {"budget_ms": budget_ms, **parts, "least_ms": least, "reachable": least < budget_ms}
    return out


def _ratio(value: float | None, digits: int = 2) -> str:
    """A ratio as 0.45, or as 1/123 below 0.1 (the staff sign-in target is a fraction of the ceiling)."""
    if value is None:
        return "-"
    if 0 < value < 0.1:
        return f"1/{1 / value:.0f}"
    return f"{value:.{digits}f}"


def markdown(bench: Bench, started: str) -> str:
    m = machine()
    a = bench.args
    ceiling = bench.ceiling_per_cpu
    peer = peer_summaries(bench)
    ratios = x_peer(bench)
    targets = {t["workload"]: t for t in evaluate_targets(bench)}
    peer_text = (f"Peer: node-oidc-provider {bench.peer_info.get('version', '?')} (one Node "
                 f"{bench.peer_info.get('node', '')} process, tokens in the same Redis), measured before and after "
                 f"the provider with the same wrk script, threads and connections; {a.peer_duration:g} s per "
                 f"workload after {a.peer_warmup:g} s warm-up (first run; {min(1.0, a.peer_warmup):g} s later)."
                 if bench.peer else "Peer: not measured (--no-peer).")
    lines = [
        "# Benchmark results", "",
        f"Run {started} UTC{' (quick smoke run: 1 s per workload, not a measurement)' if a.quick else ''}; "
        f"{m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, {m['system']}, Python {m['python']}.",
        f"Provider: {SERVER_TEXT[a.server].format(workers=a.workers)}, PostgreSQL + Redis + slapd on the "
        "same machine. "
        f"Load: wrk {a.threads} threads / {a.connections} connections; sign-in flows {a.flow_concurrency} "
        f"concurrent browsers; {a.duration:g} s per workload after {a.warmup:g} s warm-up.",
        peer_text, "",
        "| Workload | Unit | Rate /s | p50 ms | p99 ms | Errors | Provider CPU-s | Per CPU-s | x ceiling | x peer "
        "| Target (same run) | Ratio | Met | Per CPU-s incl. services | Services CPU-s (PG / Redis / slapd) "
        "| Worker RSS MiB | Load gen CPU-s |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|---|--:|--:|--:|--:|",
    ]
    for row in bench.rows:
        target = targets.get(row.name)
        if not row.supported:
            lines.append(f"| {row.name} | {row.unit} | - | - | - | - | - | - | - | - | "
                         f"{target['target'] if target else ''} | - | no: {row.note} | - | - | - | - |")
            continue
        frac = row.per_cpu / ceiling if ceiling else 0.0
        xp = ratios.get(row.name, {}).get("per_cpu")
        met = target["met"] if target else None
        met_text = "-" if met is None else ("yes" if met else "NO")
        if target and target["reference_noisy"]:
            met_text += " (peer noisy)"
        svc = " / ".join(_fmt(row.services.get(n, 0.0), 2) for n in SERVICES)
        lines.append(
            f"| {row.name} | {row.unit} | {_fmt(row.rate)} | {_fmt(row.p50_ms, 1)} | {_fmt(row.p99_ms, 1)} "
            f"| {row.errors} | {_fmt(row.provider_cpu_s, 2)} | {_fmt(row.per_cpu)} | {frac:.2f} | {_ratio(xp)} "
            f"| {target['target'] if target else ''} | {_ratio(target['ratio'] if target else None)} | {met_text} "
            f"| {_fmt(row.per_cpu_all)} | {svc} | {_fmt(row.worker_rss_mib, 1)} | {_fmt(row.loadgen_cpu_s, 2)} |")
    judged = [t for t in targets.values() if t["met"] is not None]
    missed = [t["workload"] for t in judged if not t["met"]]
    lines += ["", f"Targets of issue 20 (ratios in this run): {sum(1 for t in judged if t['met'])} of {len(judged)} "
                  f"met{'; missed: ' + ', '.join(missed) if missed else ''}."
              + (f" Not judged (reference not measured): "
                 f"{', '.join(t['workload'] for t in targets.values() if t['met'] is None)}."
                 if len(judged) < len(targets) else "")]
    floors = [t for t in targets.values() if t["floor_ratio"] is not None]
    if floors:
        lines += ["", "## The floor: Flask and Authlib's grant machinery alone, same server, same run", "",
                  "The smallest token endpoint on the provider's stack (bench/ceiling_app.py: the client from "
                  "memory, a random value or a JWT signed with a key parsed once, one Redis write or read, "
                  "userinfo's one PostgreSQL read; no hooks, audit, limits or metrics). A target above the "
                  "floor's ratio cannot be met by any provider that keeps Flask and Authlib's grant machinery "
                  "on this machine.", "",
                  "| Workload | Target | Floor per CPU-s | Floor ratio | Floor reaches the target | Provider per "
                  "CPU-s | Provider ratio | Provider x floor |", "|---|---|--:|--:|---|--:|--:|--:|"]
        for t in floors:
            lines.append(f"| {t['workload']} | {t['target']} | {_fmt(t['floor_per_cpu'])} | {_ratio(t['floor_ratio'])} "
                         f"| {'yes' if t['floor_reaches'] else 'NO'} | {_fmt(t['measured_per_cpu'])} "
                         f"| {_ratio(t['ratio'])} | {t['measured_per_cpu'] / t['floor_per_cpu']:.2f} |")
    bounds = floor_bounds(bench)
    if bounds:
        lines += ["", "Targets bounded by the floor's rows:", ""]
    if "refresh" in bounds:
        b = bounds["refresh"]
        lines.append(f"- refresh (>= {b['factor']} x own client_credentials): a refresh answers with an RS256 ID "
                     f"token, so it costs at least the floor's RS256 token, which runs at {b['bound']:.3f} x the "
                     "floor's opaque token before any refresh token lookup or durable rotation: the target is "
                     f"{'within' if b['reachable'] else 'beyond'} reach of the stack.")
    if "staff_signin" in bounds:
        b = bounds["staff_signin"]
        lines.append(f"- staff_signin (>= 1/25 x ceiling, slapd counted): a flow may cost {b['budget_ms']:.2f} ms "
                     f"of CPU; at the least it costs {b['least_ms']:.2f} ms: slapd {b['slapd_ms']:.2f} (measured), "
                     f"the code exchange with its RS256 ID token {b['floor_token_ms']:.2f} (the floor's RS256 "
                     f"token), userinfo {b['floor_userinfo_ms']:.2f} (the floor's), ldap3's search and bind "
                     f"{b['ldap_client_ms']:.2f} (measured), four more requests at the ceiling's cost "
                     f"{b['four_ceiling_requests_ms']:.2f}: the target is {'within' if b['reachable'] else 'beyond'} "
                     "reach of the stack.")
    if bench.argon2:
        lines.append(f"argon2id reference: {bench.argon2['per_cpu']:.1f} hashes per CPU-second at "
                     f"t={bench.argon2['time_cost']}, m={bench.argon2['memory_cost']} KiB "
                     f"({bench.argon2['hashes']} hashes in {bench.argon2['cpu_s']:.2f} CPU-s, this process).")
    if peer:
        lines += ["", "## The peer, same run", "",
                  "| Workload | Peer per CPU-s: before | after | repeat | median | spread | Peer per CPU-s incl. "
                  "services | Provider per CPU-s | x peer | x peer, services counted |",
                  "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
        provider_rows = {r.name: r for r in bench.rows}
        for name, summary in peer.items():
            runs = summary["runs_per_cpu"]
            repeat = _fmt(runs[2]) if len(runs) > 2 else "-"
            noise = f"{summary['spread']:.0%}" + (" STILL NOISY" if summary["still_noisy"] else
                                                    (" noisy, repeated" if summary["noisy"] else ""))
            row = provider_rows.get(name)
            xp = ratios.get(name, {})
            lines.append(f"| {name} | {_fmt(runs[0])} | {_fmt(runs[1]) if len(runs) > 1 else '-'} | {repeat} "
                         f"| {_fmt(summary['per_cpu'])} | {noise} | {_fmt(summary['per_cpu_all'])} "
                         f"| {_fmt(row.per_cpu) if row else '-'} | {_ratio(xp.get('per_cpu'))} "
                         f"| {_ratio(xp.get('per_cpu_all'))} |")
        lines += ["", f"A peer workload is noisy when its before and after runs differ by more than {NOISE:.0%} "
                      "(larger / smaller - 1); it is then measured once more and the median of the three is used. "
                      "The peer serves no refresh, userinfo or sign-in workload here (no interactive "
                      "accounts); introspection is of a client-credentials token on the peer, of a citizen's "
                      "token on the provider."]
    lines += ["", "## Issue 8's absolute targets (secondary)", "",
              "Absolute figures move by 2-5x between runs on shared machines; the ratios above are the targets.",
              "", "| Workload | Per CPU-s | Issue 8 target | Met |", "|---|--:|---|---|"]
    for row in bench.rows:
        if row.target and row.supported:
            met8 = row.met(ceiling)
            lines.append(f"| {row.name} | {_fmt(row.per_cpu)} | {row.target} "
                         f"| {'-' if met8 is None else ('yes' if met8 else 'NO')} |")
    rss = max((r.worker_rss_mib for r in bench.rows if r.supported), default=0.0)
    lines += ["", f"Worker RSS (largest, after the workloads): {rss:.1f} MiB (target <= 150 MiB: "
                  f"{'met' if rss and rss <= 150 else 'NOT met'})."]
    if bench.memory.get("bytes_per_session") is not None:
        mem = bench.memory
        per = mem["bytes_per_session"]
        lines.append(f"Redis memory per sign-in session: {per:.0f} bytes over {mem['sessions']:,} sessions "
                     f"(value {mem['value_bytes']} bytes, key {mem['key_bytes']} bytes; MEMORY USAGE of one key "
                     f"{mem['memory_usage_one_key']} bytes); target <= 1024 bytes: "
                     f"{'met' if per <= 1024 else 'NOT met'}.")
    lines += ["", "Columns are explained in bench/README.md.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The provider's benchmark (issue 8).")
    parser.add_argument("--quick", action="store_true", help="1 s per workload, no warm-up: a smoke test")
    parser.add_argument("--only", default="", help="comma-separated workloads (the ceiling always runs)")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per workload")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of unmeasured load before each")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="server workers (cores)")
    parser.add_argument("--server", choices=sorted(SERVER_TEXT), default="granian",
                        help="the provider's HTTP server: idp serve (granian, production) or gunicorn.conf.py")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=0, help="wrk connections (default 4 per worker)")
    parser.add_argument("--flow-concurrency", type=int, default=0, help="concurrent browsers (default 3 per "
                        "worker)")
    parser.add_argument("--sessions", type=int, default=100_000, help="sessions for the Redis memory figure")
    parser.add_argument("--profile", default="", help="comma-separated workloads to sample with py-spy")
    parser.add_argument("--out", default=str(RESULTS), help="folder for latest.md and latest.json")
    parser.add_argument("--no-peer", action="store_true", help="do not start or measure the peer "
                        "(node-oidc-provider, bench/peer/); its targets are then not judged")
    parser.add_argument("--peer-duration", type=float, default=10.0, help="seconds per peer workload and run")
    parser.add_argument("--peer-warmup", type=float, default=3.0, help="seconds of unmeasured load before each "
                        "peer workload's first run (1 s before the later runs: the JIT is warm by then)")
    parser.add_argument("--argon2-seconds", type=float, default=3.0, help="CPU-seconds of argon2id hashing for "
                        "the citizen sign-in target's reference")
    args = parser.parse_args(argv)
    unknown = [w for w in args.only.split(",") if w and w not in WORKLOADS] if args.only else []
    if unknown:
        parser.error(f"unknown workload(s): {', '.join(repr(w[:40]) for w in unknown)}; "
                     f"known: {', '.join(WORKLOADS)}")
    if args.quick:
        args.duration, args.warmup, args.sessions = 1.0, 0.0, min(args.sessions, 1000)
        args.peer_duration, args.peer_warmup, args.argon2_seconds = 1.0, 0.0, 0.3
    args.connections = args.connections or 4 * args.workers
    args.threads = min(args.threads, args.connections)
    args.flow_concurrency = args.flow_concurrency or 3 * args.workers
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk (make bench does it when run as root)")
    if not args.no_peer and (problem := peer_oidc.check_node()):
        raise SystemExit(problem)
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M")
    bench = Bench(args)
    try:
        bench.start_services()
        bench.seed()
        bench.start_servers()
        if not args.no_peer:
            bench.start_peer()
        bench.seed_tokens()
        bench.run()
    finally:
        bench.close()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(bench, started)
    (out / "latest.md").write_text(text)
    (out / "latest.json").write_text(json.dumps({
        "started_utc": started, "machine": machine(), "settings": {k: v for k, v in vars(args).items()},
        "argon2": KEYCLOAK_ARGON2, "ceiling_per_cpu": bench.ceiling_per_cpu,
        "rows": [r.as_dict(bench.ceiling_per_cpu) for r in bench.rows], "redis_session": bench.memory,
        "argon2_reference": bench.argon2,
        "peer": {**bench.peer_info, "runs": {
            name: {**peer_summary(runs), "runs": [r.as_dict(0.0) for r in runs]}
            for name, runs in bench.peer_runs.items()}} if bench.peer else None,
        "x_peer": x_peer(bench), "targets": evaluate_targets(bench), "floor_bounds": floor_bounds(bench),
    }, indent=2) + "\n")
    print()
    print(text)
    failed = [r.name for r in bench.rows if r.supported and (r.errors or not r.count)]
    failed += [f"peer {n}" for n, runs in bench.peer_runs.items() if any(r.errors or not r.count for r in runs)]
    if failed:
        print(f"workloads with errors or no completed request: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
