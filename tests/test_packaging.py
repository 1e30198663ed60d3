"""The wheel carries templates, migrations, static files and catalogues, and finds them when installed."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from . import services

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_contents_and_resource_dir(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                    "-w", str(wheels), str(ROOT)], check=True, cwd=tmp_path, timeout=180)
    (wheel,) = wheels.glob("idp-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = ["idp/templates/base.html", "idp/migrations/env.py", "idp/static/css/idp.css",
              "idp/templates/portal/examples/php_openid_connect.php"]
    if (ROOT / "idp/translations/id/LC_MESSAGES/messages.mo").exists():
        wanted.append("idp/translations/id/LC_MESSAGES/messages.mo")
    for name in wanted:
        assert name in names, name
    assert any(n.startswith("idp/migrations/versions/") and n.endswith(".py") for n in names)

    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                    str(wheel)], check=True, cwd=tmp_path, timeout=180)
    code = ("import idp; print(idp.__file__); print(idp.resource_dir('templates')); "
            "print(idp.resource_dir('migrations'))")
    env = {**services.clean_environ(), "PYTHONPATH": str(target)}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True,
                         text=True, check=True, timeout=60).stdout.split()
    for line in out:
        assert Path(line).resolve().is_relative_to(target.resolve()), out
