"""The README's commands against the embedded default while ``idp run`` serves the same instance (issue 19).

The provider runs as ``make run`` runs it (a real ``idp run`` process, SQLite, in-process store, a temporary
instance folder); every command the README shows then runs as its own process against that instance and
must succeed, or end with one ``Error:`` line saying why and what to do: never a traceback.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import services
from tests.services import free_port

IDP = str(Path(sys.executable).parent / "idp")
NOISE = ("Traceback", "alembic.runtime.plugins", "setup plugin")


def _env(instance: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env["IDP_INSTANCE_DIR"] = str(instance)
    return env


def idp(instance: Path, *args: str, input: str | None = None) -> tuple[int, str]:
    """Run one ``idp`` command; its exit code and its output (stdout and stderr)."""
    done = subprocess.run([IDP, *args], env=_env(instance), input=input or "", capture_output=True,
                          text=True, timeout=60)
    out = done.stdout + done.stderr
    for noise in NOISE:
        assert noise not in out, f"idp {' '.join(args)}:\n{out}"
    return done.returncode, out


def ok(instance: Path, *args: str, input: str | None = None) -> str:
    code, out = idp(instance, *args, input=input)
    assert code == 0, f"idp {' '.join(args)} failed:\n{out}"
    return out


def one_error_line(out: str) -> str:
    errors = [line for line in out.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, out
    return errors[0]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    """``make run``: migrate, keys, demo data, then ``idp run`` on a free port."""
    instance = tmp_path_factory.mktemp("instance")
    ok(instance, "db", "upgrade")
    ok(instance, "keys", "ensure")
    ok(instance, "demo", "--redirect-uri", "http://127.0.0.1:5001/callback")
    port = free_port()
    proc = subprocess.Popen([IDP, "run", "--host", "127.0.0.1", "--port", str(port), "--no-reload"],
                            env=_env(instance), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        services.wait_healthy(port, proc, timeout=30)
        yield instance, port
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    for noise in NOISE:
        assert noise not in out, out


def test_client_and_iat_commands_while_serving(served: tuple[Path, int]) -> None:
    instance, port = served
    created = _json_tail(ok(instance, "clients", "create", "--name", "Perizinan Online",
                            "--redirect-uri", "https://izin.bantenprov.go.id/callback",
                            "--post-logout-redirect-uri", "https://izin.bantenprov.go.id/",
                            "--scope", "openid profile email", "--json"))
    client_id = created["client_id"]
    ok(instance, "clients", "create", "--name", "Portal Pajak", "--redirect-uri", "https://pajak.example.org/cb",
       "--subject-type", "pairwise")
    ok(instance, "clients", "create", "--name", "Aplikasi Kepegawaian",
       "--redirect-uri", "https://simpeg.bantenprov.go.id/callback",
       "--scope", "openid profile email staff", "--approve-scope", "staff")
    assert client_id in ok(instance, "clients", "list")
    assert client_id in ok(instance, "clients", "show", client_id)
    # The serving provider sees the client at once (same database).
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/.well-known/openid-configuration", timeout=5) as resp:
        assert resp.status == 200
    ok(instance, "clients", "disable", client_id)
    ok(instance, "clients", "delete", client_id, input="y\n")
    token = ok(instance, "iat", "create", "--expires-in", "86400", "--max-uses", "1").strip().splitlines()[-1]
    assert len(token) >= 32
    # A sector identifier the provider cannot fetch (no network here): one line, not a traceback.
    code, out = idp(instance, "clients", "create", "--name", "Dua Aplikasi", "--redirect-uri",
                    "https://a.example.org/cb", "--redirect-uri", "https://b.example.org/cb",
                    "--subject-type", "pairwise", "--sector-identifier-uri", "https://example.org/sector.json")
    if code != 0:
        one_error_line(out)


def _json_tail(out: str) -> dict[str, object]:
    """The JSON object a ``--json`` command printed after the development-mode notices."""
    return dict(json.JSONDecoder().raw_decode(out, out.index("{"))[0])


def test_key_audit_logout_and_config_commands_while_serving(served: tuple[Path, int]) -> None:
    instance, _ = served
    ok(instance, "db", "upgrade")
    ok(instance, "keys", "ensure")
    assert "signing" in ok(instance, "keys", "list")
    ok(instance, "keys", "rotate", "--alg", "ES256")
    assert ":" in ok(instance, "keys", "new-data-key")
    ok(instance, "audit", "purge")
    ok(instance, "logout", "status")
    ok(instance, "logout", "deliver")
    ok(instance, "logout", "sweep")
    assert "IDP_ISSUER" in ok(instance, "config-doc")
    backup = instance / "idp-backup.json"
    ok(instance, "export", "-o", str(backup))
    assert "0 added" in ok(instance, "import", str(backup))  # the same instance: nothing new


def test_directory_commands_without_a_directory_say_so(served: tuple[Path, int]) -> None:
    instance, _ = served
    for args, stdin in ((("ldap", "test", "budi"), "secret\n"), (("ldap", "sync"), None)):
        code, out = idp(instance, *args, input=stdin)
        assert "IDP_LDAP_URLS" in out, out


def test_session_commands_while_serving_say_what_to_do(served: tuple[Path, int]) -> None:
    """Sessions live inside the serving process: the command says so in one line and where to go instead."""
    instance, _ = served
    with sqlite3.connect(instance / "idp.db") as conn:
        sub = conn.execute("SELECT sub FROM people LIMIT 1").fetchone()[0]
    for args in (("sessions", "list", "--sub", sub), ("sessions", "end", "--sub", sub, "--reason", "ticket 123")):
        code, out = idp(instance, *args)
        assert code != 0
        line = one_error_line(out)
        assert "IDP_REDIS_URL" in line and "/admin" in line


def test_a_second_server_on_the_same_instance_says_why(served: tuple[Path, int]) -> None:
    instance, _ = served
    code, out = idp(instance, "run", "--port", str(free_port()), "--no-reload")
    assert code != 0
    assert "already serves" in one_error_line(out)
