"""PostgreSQL: data tables live in their own schema, so the product's metadata and its
warehouse may share one database. Data tables titled like the product's own tables are just
data tables; tables an earlier version left in `public` move over once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from core import runner, service
from core.db import Database, open_database
from tests.conftest import NOW, drop_postgres_database, fresh_postgres_database, make_settings


@pytest.fixture
def shared(tmp_path: Path, pg_template: str) -> Iterator[Database]:
    """Metadata and warehouse in one PostgreSQL database."""
    name, url = fresh_postgres_database(pg_template)
    database = open_database(make_settings(tmp_path, database_url=url, warehouse_url=url),
                             seed=True)
    yield database
    database.dispose()
    drop_postgres_database(name)


def load(db: Database, title: str, account: int) -> tuple[int, str]:
    with db.session() as s:
        [extract] = service.create_extracts(session=s, now=NOW, data={
            "data_table_title": title, "template_id": 1, "accounts": [account],
            "template_settings": {"fields": ["date", "campaign_id", "clicks"]}})
        [run] = service.run_extract(session=s, extract_id=extract.id, now=NOW,
                                    date_from=date(2026, 11, 20), date_to=date(2026, 11, 21))
        table = service.get_data_table(session=s, data_table_id=extract.data_table_id)
    assert runner.execute_run(db=db, run_id=run.id, clock=lambda: NOW).status == "succeeded"
    return extract.id, table.table_name


def test_data_tables_named_like_the_product_s_tables_are_just_data_tables(
        shared: Database) -> None:
    def product_columns() -> list[tuple[str, str]]:
        return [(c["name"], str(c["type"]))
                for c in inspect(shared.engine).get_columns("extracts", schema="public")]

    before = product_columns()
    for account, title in enumerate(("extracts", "api_keys", "runs"), start=1):
        extract_id, table_name = load(shared, title, account)
        assert table_name == title
        assert shared.warehouse.count_rows(table_name, extract_id) > 0
    assert product_columns() == before
    with shared.engine.connect() as conn:
        where = dict(conn.execute(text(
            "SELECT table_name, table_schema FROM information_schema.tables "
            "WHERE table_name IN ('extracts', 'api_keys', 'runs') AND table_schema <> 'public'"
        )).all())
    assert where == {"extracts": "extracts_data", "api_keys": "extracts_data",
                     "runs": "extracts_data"}
    with shared.session() as s:  # the product's own tables work as before
        assert service.list_extracts(session=s, now=NOW).total == 3
        assert service.create_api_key(session=s, name="after", now=NOW).secret


def test_tables_an_earlier_version_left_in_public_move_once(shared: Database,
                                                            tmp_path: Path) -> None:
    extract_id, table_name = load(shared, "Campaign stats", 1)
    rows = shared.warehouse.count_rows(table_name, extract_id)
    with shared.warehouse.engine.begin() as conn:  # as an earlier version kept it
        conn.execute(text(f'ALTER TABLE extracts_data."{table_name}" SET SCHEMA public'))
    shared.dispose()
    url = shared.settings.database_url
    again = open_database(make_settings(tmp_path, database_url=url, warehouse_url=url))
    try:
        assert again.warehouse.count_rows(table_name, extract_id) == rows
        assert table_name not in inspect(create_engine(url)).get_table_names(schema="public")
    finally:
        again.dispose()
