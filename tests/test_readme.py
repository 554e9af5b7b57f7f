"""The README stays true: its settings table and its Python example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core import config

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_settings_table_matches_the_declared_settings() -> None:
    table = README.split("<!-- settings-table")[1].split("-->", 1)[1]
    table = table.split("<!-- /settings-table -->")[0].strip()
    assert table == config.markdown_table()


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
