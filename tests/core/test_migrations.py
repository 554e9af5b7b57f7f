"""Migrations keep what a database holds: the SQLite table rebuilds of 0009 (AUTOINCREMENT)
carry every row over, cascade nothing, and leave each table's counter at its largest id."""

from __future__ import annotations

import sqlite3
from datetime import date

from alembic.script import ScriptDirectory
from sqlalchemy.orm import sessionmaker

from core import service
from core.config import Settings, secret_key
from core.crypto import Cipher
from core.db import MIGRATIONS, Database, make_engine, migrate
from core.warehouse import Warehouse
from tests.conftest import NOW, make_extract

TABLES = ("connections", "accounts", "templates", "data_tables", "extracts", "schedules", "runs")


def counts(path: str) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def test_the_autoincrement_rebuild_keeps_every_row_and_key(settings: Settings) -> None:
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    path = str(settings.var_dir / "extracts.db")
    engine = make_engine(f"sqlite:///{path}", immediate=True)
    migrate(engine, str(ScriptDirectory(str(MIGRATIONS)).get_revision("0009").down_revision))
    # ^ the schema just before ids were kept from reuse
    db = Database(settings=settings, engine=engine,
                  warehouse=Warehouse(make_engine(settings.warehouse_url)),
                  cipher=Cipher(secret_key(settings)), sessions=sessionmaker())
    db.sessions.configure(bind=engine, info={"database": db})
    with db.session() as session:
        service.seed_demo(session=session)
        extracts = [make_extract(session, accounts=[a],
                                 schedules=[{"frequency": "daily", "hour": 6}]) for a in (1, 2)]
        for extract in extracts:
            service.run_extract(session=session, extract_id=extract.id, now=NOW,
                                date_from=date(2026, 11, 1), date_to=date(2026, 11, 2))
        service.delete_extract(session=session, extract_id=extracts[1].id)
        session.commit()
    before = counts(path)
    assert before["schedules"] == 1 and before["runs"] == 1

    migrate(engine)

    assert counts(path) == before
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA foreign_keys").fetchone() == (0,)  # a fresh connection
        sequence = dict(conn.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
    # The counter starts at the largest id the table holds (an id deleted before the
    # upgrade is not known to it); from now on none is handed out twice.
    assert sequence["extracts"] == extracts[0].id
    with db.session() as session:
        newest = make_extract(session, accounts=[2])
        service.delete_extract(session=session, extract_id=newest.id)
        session.commit()
        again = make_extract(session, accounts=[2])
    assert again.id == newest.id + 1
    with engine.connect() as conn:  # the product's connections still enforce keys
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    db.dispose()


def test_the_newest_revision_read_from_the_scripts_is_alembics_head() -> None:
    from alembic.config import Config

    from core.db import newest_revision

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert newest_revision() == ScriptDirectory.from_config(config).get_current_head()


def test_a_process_opening_an_up_to_date_database_imports_neither_alembic_nor_the_cipher(
        settings: Settings) -> None:
    import json
    import subprocess
    import sys

    from tests.servers import ROOT, server_env

    program = ("import json, sys; from core.config import get_settings; "
               "from core.db import open_database; "
               "db = open_database(get_settings()); "
               "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} "
               "& {'alembic', 'cryptography'})))")

    def imported() -> list[str]:
        done = subprocess.run([sys.executable, "-c", program], check=True, text=True,
                              capture_output=True, cwd=ROOT,
                              env=server_env(settings.var_dir, "k"))
        return list(json.loads(done.stdout.strip().splitlines()[-1]))

    settings.var_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"sqlite:///{settings.var_dir}/extracts.db")
    migrate(engine, "0011")  # one revision behind the newest
    engine.dispose()
    assert imported() == ["alembic"]  # migrated to the newest
    assert imported() == []  # then it stands there: nothing to migrate
