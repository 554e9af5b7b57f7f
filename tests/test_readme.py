"""The README stays true: its settings table and its Python example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core import config
from core.connectors import registry

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_settings_table_matches_the_declared_settings() -> None:
    table = README.split("<!-- settings-table")[1].split("-->", 1)[1]
    table = table.split("<!-- /settings-table -->")[0].strip()
    assert table == config.markdown_table()


def test_connector_config_table_matches_every_connectors_schema() -> None:
    table = README.split("<!-- connector-config-table")[1].split("-->", 1)[1]
    table = table.split("<!-- /connector-config-table -->")[0].strip()
    assert table == registry.markdown_table()
    assert set(registry.BUILT_IN) == {"airbyte", "files", "http_json", "sample_ads", "singer",
                                      "sql"}
    for name in registry.BUILT_IN:
        for key, spec in registry.get(name).config_schema["properties"].items():
            assert f"| `{name}` | `{key}` |" in table
            assert spec.get("description"), f"{name}.{key} has no description for the README"


def test_python_example_creates_runs_and_previews(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    example = re.search(r"```python\n(.*?)```", README, re.S)
    assert example is not None
    monkeypatch.setenv("EXTRACTS_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("EXTRACTS_SECRET_KEY", "readme-test")
    exec(compile(example.group(1), "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "Acme Retail" in printed
    assert "clicks" in printed
