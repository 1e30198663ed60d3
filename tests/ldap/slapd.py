"""Private OpenLDAP ``slapd`` instances for the LDAP tests, on free ports, seeded through ldapadd.

Each :class:`Slapd` runs in the foreground as a child process (its PID is the one we hold), from
``slapd.conf.in`` and the schema in this folder.  Seed data goes through ``ldapadd`` against the
running server: offline ``slapadd`` would bypass the overlays (no ``memberOf``, clear-text passwords).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

# ldap3 as imported by the connector (which silences pyasn1's import-time deprecation warnings).
from idp.sources.ldap import _close, ldap3
from tests.services import free_port

HERE = Path(__file__).resolve().parent
SLAPD = "/usr/sbin/slapd"
SUFFIX = "dc=bantenprov,dc=go,dc=id"
ADMIN_DN = f"cn=admin,{SUFFIX}"
ADMIN_PASSWORD = "admin-secret-1"  # noqa: S105 - a throwaway test directory
SERVICE_DN = f"cn=idp-service,ou=services,{SUFFIX}"
LOCKOUT_POLICY = f"cn=lockout,ou=policies,{SUFFIX}"
SERVICE_PASSWORD = "service-secret-1"  # noqa: S105
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"


@dataclass
class Certs:
    """A test certificate authority and a server certificate for ``IP:127.0.0.1``."""

    ca: str
    cert: str
    key: str
    other_ca: str  # an unrelated authority: verification against it must fail


def make_certs(folder: Path) -> Certs:
    """Create a CA, a server certificate signed by it (SAN ``IP:127.0.0.1``) and a second, unrelated CA."""
    folder.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)

    for name in ("ca", "other-ca"):
        run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", f"/CN=Test {name}", "-keyout", f"{name}.key", "-out", f"{name}.pem",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", "server.key", "-out", "server.csr")
    (folder / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
                                    "basicConstraints=CA:FALSE\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-extfile", "ext.cnf", "-out", "server.pem")
    return Certs(ca=str(folder / "ca.pem"), cert=str(folder / "server.pem"), key=str(folder / "server.key"),
                 other_ca=str(folder / "other-ca.pem"))


@dataclass
class Slapd:
    """One running (or stopped) private slapd; ``url`` is plain LDAP, ``ldaps_url`` when TLS is set up."""

    workdir: Path
    port: int
    tls_port: int | None = None
    allow_bind_anon_dn: bool = False
    certs: Certs | None = None
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        assert self.tls_port is not None
        return f"ldaps://127.0.0.1:{self.tls_port}"

    def write_config(self) -> None:
        tls = ""
        if self.certs is not None:
            tls = (f"TLSCACertificateFile {self.certs.ca}\nTLSCertificateFile {self.certs.cert}\n"
                   f"TLSCertificateKeyFile {self.certs.key}\n")
        text = (HERE / "slapd.conf.in").read_text().format(
            schema_dir=HERE, workdir=self.workdir, rootpw=ADMIN_PASSWORD, tls=tls,
            # The permissive setting of some real directories: a DN with an empty password binds anonymously.
            allows="allow bind_anon_dn" if self.allow_bind_anon_dn else "",
        )
        (self.workdir / "data").mkdir(parents=True, exist_ok=True)
        (self.workdir / "slapd.conf").write_text(text)

    def start(self) -> None:
        urls = self.url + "/"
        if self.tls_port is not None:
            urls += " " + self.ldaps_url + "/"
        with open(self.workdir / "slapd.log", "ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [SLAPD, "-d", "0", "-f", str(self.workdir / "slapd.conf"), "-h", urls],
                stdout=subprocess.DEVNULL, stderr=log,
            )
        self.started_at = time.monotonic()
        self.wait_ready()

    def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                log = (self.workdir / "slapd.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"slapd exited with {self.proc.returncode}: {log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
            except OSError:
                time.sleep(0.05)
                continue
            # A new Server object on each try: ldap3 caches a server's failed state.
            conn = ldap3.Connection(ldap3.Server(self.url, connect_timeout=1, get_info=ldap3.NONE),
                                    ADMIN_DN, ADMIN_PASSWORD, receive_timeout=2)
            try:
                if conn.bind():
                    return
            except ldap3.core.exceptions.LDAPException:
                pass
            finally:
                _close(conn)
            time.sleep(0.05)
        raise RuntimeError(f"slapd on port {self.port} not ready after {timeout}s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def ldapadd(self, ldif: Path, *, modify: bool = False) -> None:
        """Load ``ldif`` with ldap-utils against the running server, as the administrator."""
        tool = "ldapmodify" if modify else "ldapadd"
        env = {**os.environ, "LDAPNOINIT": "1"}  # ignore ~/.ldaprc and /etc/ldap/ldap.conf
        result = subprocess.run([tool, "-x", "-H", self.url, "-D", ADMIN_DN, "-w", ADMIN_PASSWORD, "-f", str(ldif)],
                                capture_output=True, text=True, env=env)
        if result.returncode != 0:
            raise RuntimeError(f"{tool} {ldif.name} failed: {result.stderr.strip()}")

    def seed(self) -> None:
        self.ldapadd(HERE / "seed.ldif")
        self.ldapadd(HERE / "seed-admin.ldif", modify=True)

    def admin(self) -> ldap3.Connection:
        """A bound administrator connection (the caller unbinds)."""
        conn = ldap3.Connection(ldap3.Server(self.url, get_info=ldap3.NONE), ADMIN_DN, ADMIN_PASSWORD,
                                receive_timeout=5, raise_exceptions=True)
        conn.bind()
        return conn


def start_slapd(*, allow_bind_anon_dn: bool = False, certs: Certs | None = None, seed: bool = True) -> Slapd:
    """Start a fresh, seeded slapd on free ports (plus an ldaps port when ``certs`` are given)."""
    workdir = Path(tempfile.mkdtemp(prefix="idp-slapd-"))
    server = Slapd(workdir=workdir, port=free_port(), tls_port=free_port() if certs else None,
                   allow_bind_anon_dn=allow_bind_anon_dn, certs=certs)
    server.write_config()
    try:
        server.start()
        if seed:
            server.seed()
    except Exception:
        server.destroy()
        raise
    return server


def add_user(server: Slapd, uid: str, password: str, *, ou: str = "diskominfo", **attrs: str | list[str]) -> str:
    """Add a person entry as the administrator (through the overlays); returns its DN."""
    dn = f"uid={ldap3.utils.dn.escape_rdn(uid)},ou={ou},{PEOPLE}"
    values: dict[str, object] = {"uid": uid, "cn": attrs.pop("cn", uid.title()), "sn": attrs.pop("sn", uid),
                                 "userPassword": password, **attrs}
    conn = server.admin()
    try:
        if not conn.add(dn, ["inetOrgPerson"], values):
            raise RuntimeError(f"add {dn}: {conn.result}")
    finally:
        conn.unbind()
    return dn


def admin_do(server: Slapd, action: str, *args: object, **kwargs: object) -> None:
    """Run one administrator operation (``modify``, ``modify_dn``, ``delete`` ...) and check its result."""
    conn = server.admin()
    try:
        if not getattr(conn, action)(*args, **kwargs):
            raise RuntimeError(f"{action}{args}: {conn.result}")
    finally:
        conn.unbind()
