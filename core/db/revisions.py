"""Migrations: the newest revision, and bringing a database up to it (alembic only when
needed)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, inspect

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


_REVISION_LINE = re.compile(r"^(down_revision|revision)\s*=\s*['\"]?([\w-]+|None)['\"]?\s*$",
                            re.MULTILINE)


def newest_revision() -> str | None:
    """The one head of the migration scripts, read from their `revision` and `down_revision`
    lines; None when that is not plain (several heads, or a line in another form)."""
    revisions, parents = set(), set()
    for script in (MIGRATIONS / "versions").glob("*.py"):
        found = dict(_REVISION_LINE.findall(script.read_text()))
        if "revision" not in found or "down_revision" not in found:
            return None
        revisions.add(found["revision"])
        parents.add(found["down_revision"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _up_to_date(engine: Engine) -> bool:
    """Whether the database already stands at the newest revision (then alembic, 10 MB of
    every process's memory, is not imported at all)."""
    head = newest_revision()
    if head is None or not inspect(engine).has_table("alembic_version"):
        return False
    with engine.connect() as conn:
        found = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
    return list(found) == [head]


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the metadata schema up to `revision` (the newest by default)."""
    if revision == "head" and _up_to_date(engine):
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.connect() as conn:
        sqlite = engine.dialect.name == "sqlite"
        raw: Any = conn.connection.driver_connection
        if sqlite:
            # A migration that rebuilds a table (SQLite's only way to change most of a
            # table) must not cascade the drop of the old copy: keys are off meanwhile, as
            # SQLite's ALTER TABLE guide says, and checked before the commit.
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                config.attributes["connection"] = conn
                command.upgrade(config, revision)
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise RuntimeError(f"migration broke foreign keys: {broken[:5]}")
        finally:
            if sqlite:
                raw.execute("PRAGMA foreign_keys=ON")
