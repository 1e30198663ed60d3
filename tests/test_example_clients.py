"""The example applications (clients/) speak Indonesian like the README, with an English switch (issue 18)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load(name: str) -> ModuleType:
    path = ROOT / "clients" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"example_{name.replace('-', '_')}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("name", "login"), [("example-rp", "Masuk dengan SSO Banten"),
                                             ("example-rp2", "Masuk dengan SSO Banten")])
def test_indonesian_first_with_an_english_switch(name: str, login: str) -> None:
    client = load(name).app.test_client()
    page = client.get("/").get_data(as_text=True)
    assert '<html lang="id">' in page and login in page and 'id="lang"' in page
    english = client.get("/?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in english and "Sign in with Banten SSO" in english
    # The choice is remembered, and the way back is offered.
    again = client.get("/").get_data(as_text=True)
    assert '<html lang="en">' in again and "Bahasa Indonesia" in again
    assert '<html lang="id">' in client.get("/?lang=id").get_data(as_text=True)
    assert '<html lang="id">' in client.get("/?lang=xx").get_data(as_text=True)
