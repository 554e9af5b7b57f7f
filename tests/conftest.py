"""Shared fixtures: every test gets its own metadata database and warehouse in tmp_path."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from core import schemas, service
from core.config import Settings, get_settings
from core.db import Database, make_engine, migrate, open_database

# A fixed "now" for tests that inject time: Saturday 2026-11-28 10:00 UTC.
NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A metadata database migrated once per test session; tests copy it (fast)."""
    path = tmp_path_factory.mktemp("template") / "extracts.db"
    engine = make_engine(f"sqlite:///{path}", immediate=True)
    migrate(engine)
    engine.dispose()
    return path


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings whose databases live in `tmp_path`."""
    env = {"EXTRACTS_VAR_DIR": str(tmp_path / "var"), "EXTRACTS_SECRET_KEY": "test-secret"}
    return get_settings(env).with_overrides(**overrides)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def db(settings: Settings, migrated_template: Path) -> Iterator[Database]:
    """A fresh Database with the Sample Ads demo connection (accounts 1-3, templates 1-4)."""
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(migrated_template, settings.var_dir / "extracts.db")
    database = open_database(settings, seed=True)
    yield database
    database.dispose()


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    """A session on `db`; committed at the end of the test if it passed."""
    with db.session() as s:
        yield s


def extract_body(**overrides: Any) -> dict[str, Any]:
    """A valid create body for the demo campaign template, two accounts by default."""
    body: dict[str, Any] = {
        "data_table_title": "Campaign stats",
        "template_id": 1,
        "template_settings": {"fields": ["date", "campaign_id", "clicks", "spend"]},
        "accounts": [1, 2],
    }
    body.update(overrides)
    return body


def make_extract(session: Session, **overrides: Any) -> schemas.ExtractOut:
    """Create one extract (account 1 unless told) and return it."""
    overrides.setdefault("accounts", [1])
    return service.create_extracts(session=session, data=extract_body(**overrides), now=NOW)[0]
