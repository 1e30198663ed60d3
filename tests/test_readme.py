"""The README's configuration reference is the settings table, not a copy that drifts."""

from __future__ import annotations

from pathlib import Path

from idp.config import reference_markdown


def test_readme_config_table_matches_settings():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    start = readme.index("<!-- config-table:start -->") + len("<!-- config-table:start -->")
    end = readme.index("<!-- config-table:end -->")
    assert readme[start:end].strip() == reference_markdown().strip(), (
        "README configuration table is stale: run `idp config-doc` and paste it between the markers"
    )
