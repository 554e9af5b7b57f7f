"""The README's "Writing a connector" example runs as written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.connectors import registry

README = (Path(__file__).resolve().parents[3] / "README.md").read_text()


@pytest.fixture
def restored_registry() -> Iterator[None]:
    before = dict(registry._CONNECTORS)
    yield
    registry._CONNECTORS.clear()
    registry._CONNECTORS.update(before)


def test_the_writing_a_connector_example_loads_a_month_of_days(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        restored_registry: None) -> None:
    section = README.split("## Writing a connector", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.setenv("EXTRACTS_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("EXTRACTS_SECRET_KEY", "readme-test")

    exec(compile(code, "README.md (Writing a connector)", "exec"), {"__name__": "readme"})

    assert capsys.readouterr().out.strip() == "31 days loaded"
    stored = b"".join(p.read_bytes() for p in (tmp_path / "var").glob("extracts.db*"))
    assert b"kept-encrypted" not in stored
