"""Fixtures for the Airbyte and Singer tests: one sources folder for the whole session, so
each PyPI package is installed once (about a minute and a half each on 2 cores)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import Settings
from tests.conftest import make_settings


@pytest.fixture(scope="session")
def sources_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The environments of the installed sources, shared by every test of the session."""
    return tmp_path_factory.mktemp("sources")


@pytest.fixture
def settings(tmp_path: Path, sources_dir: Path) -> Settings:
    return make_settings(tmp_path, sources_dir=str(sources_dir))


# The API's client, for the create call of the issue.
from tests.api.conftest import anonymous, api_key, client, clock  # noqa: E402, F401
