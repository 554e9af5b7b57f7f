"""Connections reach only what they should: files under EXTRACTS_FILES_ROOTS (after `..` and
symlinks), never the product's own databases, only allowed hosts when an allow-list is set."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from core import errors, service
from core.config import Settings
from core.db import Database, open_database
from tests.conftest import make_settings


def create(db: Database, datasource: str, config: dict[str, Any]) -> Any:
    with db.session() as session:
        return service.create_connection(session=session, data={
            "datasource": datasource, "title": "Probe", "config": config})


def csv(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sales.csv").write_text("day,amount\n2026-11-01,3.5\n")
    return folder


@pytest.fixture
def confined(tmp_path: Path) -> Database:
    """A product whose files connections may read only `tmp_path/allowed`."""
    settings = make_settings(tmp_path).with_overrides(files_roots=(tmp_path / "allowed",))
    return open_database(settings, seed=True)


def test_files_inside_the_roots_are_read(confined: Database, tmp_path: Path) -> None:
    made = create(confined, "files", {"path": str(csv(tmp_path / "allowed" / "shop"))})
    assert made.accounts and made.accounts[0].name.startswith("All files at")


@pytest.mark.parametrize("path", ["outside", "allowed/../outside", "allowed/../outside/*.csv",
                                  "allowed/../**/*.csv"])
def test_files_outside_the_roots_are_refused_naming_the_roots(
        confined: Database, tmp_path: Path, path: str) -> None:
    csv(tmp_path / "outside")
    (tmp_path / "allowed").mkdir(exist_ok=True)
    with pytest.raises(errors.ExtractsError) as refused:
        create(confined, "files", {"path": str(tmp_path / path)})
    assert "is outside the folders files may be read from" in str(refused.value)
    assert str(tmp_path / "allowed") in str(refused.value)
    assert "EXTRACTS_FILES_ROOTS" in str(refused.value)


def test_a_symlink_inside_the_roots_that_leads_out_is_refused(confined: Database,
                                                              tmp_path: Path) -> None:
    secret = csv(tmp_path / "outside") / "sales.csv"
    inside = tmp_path / "allowed" / "shop"
    inside.mkdir(parents=True)
    os.symlink(secret, inside / "sales.csv")
    with pytest.raises(errors.ExtractsError, match="is outside the folders"):
        create(confined, "files", {"path": str(inside)})


def test_the_product_s_own_databases_are_never_a_source(db: Database, tmp_path: Path) -> None:
    relative = os.path.relpath(db.settings.var_dir / "extracts.db")
    roundabout = db.settings.var_dir / ".." / "var" / "warehouse.db"
    for url in (db.settings.database_url, db.settings.warehouse_url, f"sqlite:///{relative}",
                f"sqlite:///{roundabout}"):
        with pytest.raises(errors.ExtractsError, match="this product's own database"):
            create(db, "sql", {"url": url})
    other = tmp_path / "shop.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE sales (day DATE, amount REAL)")
    assert create(db, "sql", {"url": f"sqlite:///{other}"}).accounts


def test_a_link_to_the_metadata_file_is_the_same_database(db: Database, tmp_path: Path) -> None:
    link = tmp_path / "innocent.db"
    os.symlink(db.settings.var_dir / "extracts.db", link)
    with pytest.raises(errors.ExtractsError, match="this product's own database"):
        create(db, "sql", {"url": f"sqlite:///{link}"})


def test_sql_hosts_outside_the_allow_list_are_refused(tmp_path: Path) -> None:
    settings: Settings = make_settings(tmp_path).with_overrides(
        sql_hosts=frozenset({"warehouse.internal"}))
    database = open_database(settings, seed=True)
    with pytest.raises(errors.ExtractsError,
                       match=r"database host 127.0.0.1 is not in EXTRACTS_SQL_HOSTS "
                             r"\(warehouse.internal\)"):
        create(database, "sql", {"url": "postgresql://postgres@127.0.0.1:5432/test"})


def test_the_product_s_postgresql_database_however_spelled_is_refused(pg_db: Database) -> None:
    meta = pg_db.engine.url
    for host in ("localhost", "127.0.0.1"):
        url = f"postgresql://{meta.username}@{host}:{meta.port}/{meta.database}"
        with pytest.raises(errors.ExtractsError, match="this product's own database"):
            create(pg_db, "sql", {"url": url})
