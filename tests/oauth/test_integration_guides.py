"""The portal's integration examples run (issue 18): each one is rendered by the function the application's
page uses (:func:`idp.web.portal.examples.render`) and executed as a real relying party against a live
provider: Python (Flask + Authlib), Node.js (openid-client), Apache httpd (mod_auth_openidc), PHP
(jumbojett/openid-connect-php, run where php and the library are installed) and plain PHP without a library
(php-cli and php-curl from the OS packages, served by PHP's built-in web server).

The person's sign-in session is put in the store (helpers.sign_in); everything else is the example's own
code talking HTTP to the provider: discovery, the authorization request with PKCE, the code redemption
with the client secret, the ID token check.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from idp.oauth import keys
from idp.web.portal import examples
from tests import services
from tests.rp_node.test_openid_client import HERE as NODE_DIR
from tests.rp_node.test_openid_client import _npm_install

from . import helpers
from .conftest import TEST_DATA_KEY

ROOT = Path(__file__).resolve().parents[2]
PHP_DIR = ROOT / "tests" / "rp_php"
APACHE_MODULES = Path("/usr/lib/apache2/modules")
SCOPE = "openid profile email"


class Setup:
    """A live provider, a registered client for one port, a signed-in person, and the rendered example."""

    def __init__(self, live_server: Callable[..., Any], name: str, auth_method: str = "client_secret_basic") -> None:
        self.server = live_server(DATA_KEYS=[TEST_DATA_KEY])
        with self.server.app.app_context():
            keys.ensure()
        self.port = services.free_port()
        self.app_url = f"http://127.0.0.1:{self.port}"
        self.redirect_uri = self.app_url + "/callback"
        self.client_id, secret = helpers.create_client(self.server.app, redirect_uris=[self.redirect_uri],
                                                       post_logout_redirect_uris=[self.app_url + "/"],
                                                       first_party=True, auth_method=auth_method)
        self.secret = secret or ""
        self.person_id, self.sub = helpers.create_person(self.server.app)
        self.browser = requests.Session()
        helpers.sign_in(self.server.app, self.browser, self.person_id, self.sub)
        with self.server.app.test_request_context():
            self.text = examples.render(name, issuer=self.server.url, client_id=self.client_id,
                                        redirect_uri=self.redirect_uri, scope=SCOPE, auth_method=auth_method)
        self.env = {**services.clean_environ(), "SSO_CLIENT_SECRET": self.secret, "PORT": str(self.port),
                    "APP_SECRET_KEY": "a-test-only-secret", "OIDC_PASSPHRASE": "a-test-only-passphrase"}


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        services.stop_process(proc, 10)


def start(processes: list[subprocess.Popen[bytes]], args: list[str], setup: Setup, cwd: Path,
          log: Path) -> None:
    with log.open("wb") as handle:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(args, env=setup.env, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT)
    processes.append(proc)
    try:
        services.wait_port(setup.port, proc=proc)
    except RuntimeError:
        raise AssertionError(log.read_text()[-3000:]) from None


def test_every_example_is_on_the_page_and_names_the_application(live_server: Callable[..., Any]) -> None:
    setup = Setup(live_server, "python")
    with setup.server.app.test_request_context():
        rendered = examples.render_all(issuer=setup.server.url, client_id=setup.client_id,
                                       redirect_uri=setup.redirect_uri, scope=SCOPE, auth_method="client_secret_basic")
    assert [name for name, _h, _t in rendered] == ["python", "node", "apache", "php", "php_plain"]
    for _name, _heading, text in rendered:
        assert setup.client_id in text and setup.server.url in text and setup.redirect_uri in text
        assert setup.secret not in text  # the secret comes from the environment, never the page


def test_python_authlib_example_signs_in(live_server: Callable[..., Any], processes: list[Any], tmp_path: Path) -> None:
    setup = Setup(live_server, "python")
    (tmp_path / "app.py").write_text(setup.text)
    start(processes, [sys.executable, "app.py"], setup, tmp_path, tmp_path / "app.log")
    resp = setup.browser.get(setup.app_url + "/login", timeout=20)
    assert resp.status_code == 200, (resp.url, resp.text[:1000], (tmp_path / "app.log").read_text()[-2000:])
    assert resp.json()["sub"] == setup.sub and resp.url == setup.app_url + "/"


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_node_openid_client_example_signs_in(live_server: Callable[..., Any], processes: list[Any], tmp_path: Path,
                                             auth_method: str) -> None:
    _npm_install()
    setup = Setup(live_server, "node", auth_method)
    (tmp_path / "app.mjs").write_text(setup.text)
    (tmp_path / "node_modules").symlink_to(NODE_DIR / "node_modules", target_is_directory=True)
    start(processes, [shutil.which("node") or "node", "app.mjs"], setup, tmp_path, tmp_path / "app.log")
    resp = setup.browser.get(setup.app_url + "/login", timeout=20)
    assert resp.status_code == 200, (resp.text[:1000], (tmp_path / "app.log").read_text()[-2000:])
    assert resp.json()["sub"] == setup.sub and urlsplit(resp.url).path == "/callback"


APACHE_CONF = """ServerRoot "{root}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{root}/httpd.pid"
ErrorLog "{root}/error.log"
LogLevel warn auth_openidc:info
LoadModule mpm_event_module {modules}/mod_mpm_event.so
LoadModule authn_core_module {modules}/mod_authn_core.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule authz_user_module {modules}/mod_authz_user.so
LoadModule auth_openidc_module {modules}/mod_auth_openidc.so
{user}
# A directory httpd's unprivileged user can search (pytest's temporary directories are private).
DocumentRoot "/usr/share/apache2/default-site"
<Directory />
    AllowOverride None
</Directory>
# Test only: the session's claims as JSON at the redirect URI (?info=json), to check who signed in.
OIDCInfoHook userinfo id_token
Include "{root}/sso.conf"
"""


def _apache_modules_present() -> bool:
    return bool(shutil.which("apache2")) and (APACHE_MODULES / "mod_auth_openidc.so").is_file()


@pytest.mark.skipif(not _apache_modules_present(),
                    reason="apache2 and libapache2-mod-auth-openidc are not installed (make os-packages)")
def test_apache_mod_auth_openidc_example_signs_in(live_server: Callable[..., Any], processes: list[Any],
                                                  tmp_path: Path) -> None:
    setup = Setup(live_server, "apache")
    root = tmp_path / "httpd"
    root.mkdir()
    (root / "sso.conf").write_text(setup.text)
    # As root, httpd must switch to an unprivileged user (mod_unixd), who must read nothing here but the config.
    user = "User www-data\nGroup www-data" if os.geteuid() == 0 else ""
    (root / "httpd.conf").write_text(APACHE_CONF.format(root=root, port=setup.port, modules=APACHE_MODULES,
                                                        user=user))
    start(processes, [shutil.which("apache2") or "apache2", "-f", str(root / "httpd.conf"), "-DFOREGROUND"],
          setup, root, root / "stdout.log")
    url = setup.app_url + "/protected"
    for _ in range(6):  # the application, the provider, the redirect URI (code redeemed), back to the page
        resp = setup.browser.get(url, allow_redirects=False, timeout=20)
        if resp.status_code not in (301, 302, 303) or urlsplit(resp.headers["Location"]).path == "/protected":
            break
        url = resp.headers["Location"]
    assert resp.status_code in (301, 302, 303) and urlsplit(resp.headers["Location"]).path == "/protected", (
        resp.status_code, resp.text[:1000], (root / "error.log").read_text()[-3000:])
    info = setup.browser.get(setup.redirect_uri + "?info=json", timeout=20)
    assert info.status_code == 200, (info.text[:1000], (root / "error.log").read_text()[-3000:])
    assert info.json()["id_token"]["sub"] == setup.sub


def _php_library() -> bool:
    return (PHP_DIR / "vendor" / "jumbojett" / "openid-connect-php").is_dir()


def _composer_install(home: Path) -> None:
    """``composer install`` in tests/rp_php (like ``npm ci`` for the Node.js example), when composer is there."""
    composer = shutil.which("composer")
    if composer and not _php_library():
        subprocess.run([composer, "install", "--no-interaction", "--no-progress"], cwd=PHP_DIR, timeout=300,
                       check=False, env={**services.clean_environ(), "COMPOSER_HOME": str(home)},
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.skipif(not shutil.which("php"), reason="php-cli is not installed (make os-packages)")
def test_php_jumbojett_example_signs_in(live_server: Callable[..., Any], processes: list[Any], tmp_path: Path) -> None:
    _composer_install(tmp_path / "composer-home")
    if not _php_library():
        pytest.skip("jumbojett/openid-connect-php could not be installed: composer needs the Packagist registry")
    setup = Setup(live_server, "php")
    (tmp_path / "index.php").write_text(setup.text)
    (tmp_path / "vendor").symlink_to(PHP_DIR / "vendor", target_is_directory=True)
    start(processes, [shutil.which("php") or "php", "-S", f"127.0.0.1:{setup.port}", "index.php"], setup, tmp_path,
          tmp_path / "php.log")
    resp = setup.browser.get(setup.app_url + "/login", timeout=20)
    assert resp.status_code == 200, (resp.text[:1000], (tmp_path / "php.log").read_text()[-2000:])
    assert json.loads(resp.text)["sub"] == setup.sub


def _php_extensions() -> set[str]:
    php = shutil.which("php")
    if not php:
        return set()
    listed = subprocess.run([php, "-m"], capture_output=True, text=True, timeout=30, check=False).stdout
    return {line.strip().lower() for line in listed.splitlines()}


@pytest.mark.skipif(not {"curl", "openssl", "session"} <= _php_extensions(),
                    reason="php-cli and php-curl are not installed (make os-packages)")
def test_plain_php_example_signs_in_and_out(live_server: Callable[..., Any], processes: list[Any],
                                            tmp_path: Path) -> None:
    """The plain-PHP example as the relying party in PHP's built-in web server: a whole sign-in and sign-out."""
    setup = Setup(live_server, "php_plain")
    (tmp_path / "index.php").write_text(setup.text)
    (tmp_path / "sessions").mkdir()
    log = tmp_path / "php.log"
    start(processes, [shutil.which("php") or "php", "-d", f"session.save_path={tmp_path / 'sessions'}",
                      "-d", "error_reporting=-1", "-d", "display_errors=stderr",
                      "-S", f"127.0.0.1:{setup.port}", "index.php"], setup, tmp_path, log)

    home = setup.browser.get(setup.app_url + "/", timeout=20)
    assert home.status_code == 200 and 'lang="id"' in home.text and "Masuk dengan SSO Banten" in home.text
    assert "Sign in with Banten SSO" in setup.browser.get(setup.app_url + "/?lang=en", timeout=20).text

    signed_in = setup.browser.get(setup.app_url + "/login", timeout=20)
    assert signed_in.status_code == 200, (signed_in.url, signed_in.text[:1000], log.read_text()[-2000:])
    assert signed_in.url == setup.app_url + "/" and 'lang="en"' in signed_in.text
    assert f'<code id="sub">{setup.sub}</code>' in signed_in.text and "Siti Aminah" in signed_in.text
    to_provider, to_callback = (urlsplit(r.headers["Location"]) for r in signed_in.history[:2])
    asked = {k: v[0] for k, v in parse_qs(to_provider.query).items()}
    assert asked["redirect_uri"] == setup.redirect_uri and asked["code_challenge_method"] == "S256"
    assert asked["ui_locales"] == "en" and asked["state"] and asked["nonce"] and asked["code_challenge"]
    # The provider's redirect again (a replayed or injected code): the pending sign-in was used up.
    replay = setup.browser.get(setup.app_url + to_callback.path + "?" + to_callback.query, timeout=20)
    assert replay.status_code == 400 and "state mismatch" in replay.text

    # Signing out takes the form's token (another site's form cannot), then ends the provider's session too.
    csrf = unescape(re.search(r'name="csrf" value="([^"]+)"', signed_in.text).group(1))  # type: ignore[union-attr]
    forged = setup.browser.post(setup.app_url + "/logout", data={"csrf": "forged"}, timeout=20)
    assert f'<code id="sub">{setup.sub}</code>' in forged.text
    out = setup.browser.post(setup.app_url + "/logout", data={"csrf": csrf}, timeout=20)
    assert out.status_code == 200 and out.url == setup.app_url + "/", (out.url, out.text[:1000])
    assert "Sign in with Banten SSO" in out.text and setup.sub not in out.text
    assert any(urlsplit(r.url).path == "/end_session" for r in out.history)
    again = setup.browser.get(setup.app_url + "/login", timeout=20)
    assert again.url.startswith(setup.server.url), again.url  # no provider session: its sign-in page
    assert not re.search(r"Warning|Notice|Deprecated|Fatal", log.read_text()), log.read_text()[-3000:]


@pytest.mark.skipif(not shutil.which("php"), reason="php-cli is not installed (make os-packages)")
def test_php_examples_are_valid_php(live_server: Callable[..., Any], tmp_path: Path) -> None:
    """Every PHP example, as rendered for each client authentication method, passes ``php -l``."""
    setup = Setup(live_server, "php")
    assert f"setRedirectURL('{setup.redirect_uri}')" in setup.text
    for name in ("php", "php_plain"):
        for auth_method in ("client_secret_basic", "client_secret_post", "none"):
            with setup.server.app.test_request_context():
                text = examples.render(name, issuer=setup.server.url, client_id=setup.client_id,
                                       redirect_uri=setup.redirect_uri, scope=SCOPE, auth_method=auth_method)
            (tmp_path / "index.php").write_text(text)
            checked = subprocess.run([shutil.which("php") or "php", "-l", "index.php"], cwd=tmp_path,
                                     capture_output=True, text=True, timeout=30, check=False)
            assert checked.returncode == 0, (name, auth_method, checked.stdout + checked.stderr)
