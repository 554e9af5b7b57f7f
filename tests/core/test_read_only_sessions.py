"""Sessions that only read (the API's GET requests): the database refuses any write in them,
and on SQLite they never take or wait for the write lock."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import errors
from core.db import Database, is_read_only, open_database, write_after
from core.models import Extract
from tests.conftest import NOW, make_extract, make_settings


def _title(db: Database, extract_id: int) -> str:
    with db.session() as session:
        return session.get_one(Extract, extract_id).title


@pytest.mark.both_databases
def test_a_read_only_session_refuses_writes(db: Database, session: Session) -> None:
    extract = make_extract(session)
    extract_id = extract.id
    session.commit()

    refused = pytest.raises(sa.exc.DBAPIError, match=r"(?i)read.?only")
    with refused, db.session(read_only=True) as reader:
        reader.get_one(Extract, extract_id).title = "changed by a reader"
    refused = pytest.raises(sa.exc.DBAPIError, match=r"(?i)read.?only")
    with refused, db.session(read_only=True) as reader:
        reader.execute(sa.delete(Extract))
    assert _title(db, extract_id) == extract.title

    # The pooled connection a reader used writes again in a session that may write.
    with db.session() as writer:
        writer.get_one(Extract, extract_id).title = "changed by a writer"
    assert _title(db, extract_id) == "changed by a writer"
    with db.session(read_only=True) as reader:
        assert reader.get_one(Extract, extract_id).title == "changed by a writer"


def test_a_read_only_session_reads_while_another_process_holds_the_write_lock(
        tmp_path: Path) -> None:
    db = open_database(make_settings(tmp_path, busy_timeout=1), seed=True)
    try:
        with db.session() as session:
            extract = make_extract(session)
        holder = sqlite3.connect(tmp_path / "var" / "extracts.db", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with db.session(read_only=True) as reader:
                assert reader.get_one(Extract, extract.id).title == extract.title
            # A session that may write waits for the lock and gives up at the busy timeout.
            locked = pytest.raises(sa.exc.OperationalError, match="database is locked")
            with locked, db.session(now=NOW) as writer:
                writer.get_one(Extract, extract.id)
        finally:
            holder.rollback()
            holder.close()
    finally:
        db.dispose()


@pytest.mark.both_databases
def test_a_write_after_a_read_is_made_once_the_read_closed_and_only_if_it_succeeded(
        db: Database, session: Session) -> None:
    extract = make_extract(session)
    session.commit()

    def rename(title: str) -> Callable[[Session], None]:
        def write(writer: Session) -> None:
            assert not is_read_only(writer)
            writer.get_one(Extract, extract.id).title = title
        return write

    with db.session(read_only=True) as reader:
        reader.get_one(Extract, extract.id)
        write_after(reader, rename("renamed after a read"))
        assert _title(db, extract.id) == extract.title  # not while the read is open
    assert _title(db, extract.id) == "renamed after a read"

    with pytest.raises(errors.NotFound), db.session(read_only=True) as reader:
        write_after(reader, rename("renamed after a failed read"))
        raise errors.NotFound("the read failed")
    assert _title(db, extract.id) == "renamed after a read"
