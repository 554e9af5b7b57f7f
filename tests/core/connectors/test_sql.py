"""The `sql` connector against real SQLite, PostgreSQL and MariaDB, end to end."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime, time
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.orm import Session

from core import errors, schemas, service
from core.connectors import registry
from core.connectors.base import AccountSpec, FetchRequest, Filter
from core.connectors.sql.query import build_query
from core.db import Database
from core.models import Connection
from core.services.catalog import connection_info
from core.services.query_templates import add_query_template
from tests.conftest import NOW
from tests.core.connectors.conftest import (
    DAYS,
    MARIADB_URL,
    SourceDb,
    connection_count,
    load,
    metadata_bytes,
    own_template,
)

CAMPAIGNS = ["Spring Sale", "Brand 50%_off"]


def seed(src: SourceDb, rows_per_day: int = 1) -> None:
    """ad_stats (a date column, an odd column name), events (a timestamp), campaigns (no date)."""
    meta = sa.MetaData(schema=src.schema)
    ad_stats = sa.Table(
        "ad_stats", meta,
        sa.Column("day", sa.Date), sa.Column("account", sa.String(20)),
        sa.Column("Campaign Name", sa.String(100)), sa.Column("clicks", sa.Integer),
        sa.Column("spend", sa.Numeric(10, 2)),
    )
    events = sa.Table("events", meta, sa.Column("event_id", sa.Integer),
                      sa.Column("seen_at", sa.DateTime), sa.Column("kind", sa.String(20)))
    sa.Table("campaigns", meta, sa.Column("id", sa.Integer), sa.Column("name", sa.String(50)))
    meta.create_all(src.engine)
    stats = [{"day": day, "account": account, "Campaign Name": campaign,
              "clicks": i * 10 + j, "spend": round(i * 1.25 + j, 2)}
             for i, day in enumerate(DAYS) for account in ("north", "south")
             for j, campaign in enumerate(CAMPAIGNS) for _ in range(rows_per_day)]
    seen = [{"event_id": n, "seen_at": datetime.combine(day, time(hour)), "kind": "click"}
            for n, (day, hour) in enumerate((d, h) for d in DAYS for h in (0, 12, 23))]
    with src.engine.begin() as conn:
        conn.execute(ad_stats.insert(), stats)
        conn.execute(events.insert(), seen)


def connect(session: Session, src: SourceDb, **config: Any) -> schemas.ConnectionOut:
    base: dict[str, Any] = {"url": src.url}
    if src.schema:
        base["schema"] = src.schema
    return service.create_connection(session=session, data={
        "datasource": "sql", "title": f"{src.kind} source", "config": {**base, **config}})


def test_a_table_loads_its_window_with_filters_pushed_down(
        db: Database, session: Session, source: SourceDb) -> None:
    seed(source)
    connection = connect(session, source)
    names = {t.name for t in service.list_templates(session=session,
                                                    connection_id=connection.id)
             if t.connection_id == connection.id}
    assert {"ad_stats", "events"} <= names
    assert "campaigns" not in names  # no date column, so no template
    template = own_template(session, connection.id, "ad_stats")
    types = {f.name: f.type for f in template.fields}
    assert types == {"day": "date", "account": "string", "Campaign Name": "string",
                     "clicks": "integer", "spend": "number"}
    assert template.date_field == "day"
    [account] = connection.accounts

    done, rows = load(db, session, template=template, account_id=account.id,
                      fields=["day", "Campaign Name", "clicks", "spend"],
                      filters=[{"field": "Campaign Name", "operator": "contains",
                                "value": "50%_"},
                               {"field": "clicks", "operator": "gte", "value": 30}])

    assert done.status == "succeeded", done.error
    # Days 3-5 (i = 2..4), both accounts, only the "Brand 50%_off" campaign, clicks >= 30.
    assert done.rows == 4
    assert sorted(rows["clicks"].tolist()) == [31, 31, 41, 41]
    assert set(rows["Campaign Name"]) == {"Brand 50%_off"}
    assert sorted(pd.to_datetime(rows["day"]).dt.date.unique()) == [DAYS[3], DAYS[4]]
    assert sorted(rows["spend"].round(2)) == [4.75, 4.75, 6.0, 6.0]  # NUMERIC as numbers


def test_accounts_are_the_values_of_the_account_column(
        db: Database, session: Session, source: SourceDb) -> None:
    seed(source)
    connection = connect(session, source, account_column="account")
    assert [a.external_id for a in connection.accounts] == ["north", "south"]
    names = {t.name for t in service.list_templates(session=session,
                                                    connection_id=connection.id)
             if t.connection_id == connection.id}
    assert names == {"ad_stats"}  # only tables with the account column
    south = connection.accounts[1]

    done, rows = load(db, session, template=own_template(session, connection.id, "ad_stats"),
                      account_id=south.id, fields=["day", "account", "clicks"])

    assert done.status == "succeeded", done.error
    assert done.rows == 6
    assert set(rows["account"]) == {"south"}
    assert set(rows["account_name"]) == {"south"}


def test_a_timestamp_column_drives_the_window_through_its_day(
        db: Database, session: Session, source: SourceDb) -> None:
    seed(source)
    connection = connect(session, source)
    template = own_template(session, connection.id, "events")
    assert template.date_field == "seen_at__date"

    done, rows = load(db, session, template=template, account_id=connection.accounts[0].id,
                      fields=["seen_at__date", "seen_at", "event_id"])

    assert done.status == "succeeded", done.error
    # Three events a day, the one at 23:00 on the last day included.
    assert done.rows == 9
    assert pd.to_datetime(rows["seen_at"]).max() == pd.Timestamp(datetime.combine(DAYS[4],
                                                                                  time(23)))


def test_a_custom_query_is_a_template_with_the_window_around_it(
        db: Database, session: Session, source: SourceDb) -> None:
    seed(source)
    connection = connect(session, source)
    table = source.table("ad_stats")
    template = add_query_template(
        session=session, connection_id=connection.id, name="doubled",
        title="Doubled clicks", date_column="day",
        sql=f"SELECT day, clicks * 2 AS double_clicks, 'a:b' AS note FROM {table} "
            "WHERE clicks > 20;")
    assert template.name == "query:doubled"
    assert template.date_field == "day"

    done, rows = load(db, session, template=template, account_id=connection.accounts[0].id,
                      fields=["day", "double_clicks", "note"],
                      filters=[{"field": "double_clicks", "operator": "lt", "value": 82}])

    assert done.status == "succeeded", done.error
    # Days i = 2..4, clicks > 20 (drops 20), doubled < 82 (drops 82); two accounts each.
    assert sorted(rows["double_clicks"].tolist()) == [42, 42, 60, 60, 62, 62, 80, 80]
    assert set(rows["note"]) == {"a:b"}


def test_a_bad_custom_query_is_refused_and_names_the_problem(
        session: Session, sqlite_source: SourceDb) -> None:
    seed(sqlite_source)
    connection = connect(session, sqlite_source)
    with pytest.raises(errors.Invalid) as bad:
        add_query_template(session=session, connection_id=connection.id, name="x",
                           sql="DELETE FROM ad_stats")
    assert "must be one SELECT" in str(bad.value)
    with pytest.raises(errors.Invalid) as missing:
        add_query_template(session=session, connection_id=connection.id, name="x",
                           sql="SELECT * FROM nowhere")
    assert "no such table" in str(missing.value)
    with pytest.raises(errors.Invalid) as no_date:
        add_query_template(session=session, connection_id=connection.id, name="x",
                           sql="SELECT account FROM ad_stats", date_column="account")
    assert "'account' is not a date or timestamp column" in str(no_date.value)


def test_a_custom_query_with_two_columns_of_one_name_is_refused(
        session: Session, pg_source: SourceDb) -> None:
    # PostgreSQL returns both columns under one name (SQLite renames the second one).
    seed(pg_source)
    connection = connect(session, pg_source)
    with pytest.raises(errors.Invalid) as twice:
        add_query_template(session=session, connection_id=connection.id, name="x",
                           sql=f"SELECT day, clicks AS day FROM {pg_source.table('ad_stats')}")
    assert twice.value.for_field("sql") == [
        "the query returns two columns of the same name; give each column its own alias"]
    assert service.list_query_templates(session=session, connection_id=connection.id) == []


def test_the_query_quotes_identifiers_and_binds_every_value(
        session: Session, sqlite_source: SourceDb) -> None:
    seed(sqlite_source)
    connection = connect(session, sqlite_source)
    template = own_template(session, connection.id, "ad_stats")
    request = _request(session, connection.id, template,
                       fields=("day", "Campaign Name"),
                       filters=(Filter("Campaign Name", "eq", "x'; DROP TABLE ad_stats; --"),))
    compiled = build_query(request, dialect="postgresql").compile(dialect=postgresql.dialect())
    sql = str(compiled)
    assert '"Campaign Name"' in sql and '"ad_stats"' in sql
    assert "DROP TABLE" not in sql
    assert "x'; DROP TABLE ad_stats; --" in compiled.params.values()
    assert date(2026, 11, 3) in compiled.params.values()


def test_rows_stream_in_chunks(session: Session, pg_source: SourceDb) -> None:
    seed(pg_source, rows_per_day=60)
    connection = connect(session, pg_source, chunk_rows=100)
    template = own_template(session, connection.id, "ad_stats")
    request = _request(session, connection.id, template, fields=("day", "clicks"))

    result = registry.get("sql").fetch(request)

    chunks = list(result.chunks)
    assert all(isinstance(chunk, pa.RecordBatch | pa.Table) for chunk in chunks)
    sizes = [chunk.num_rows for chunk in chunks]
    assert result.filters_applied and result.window_applied
    assert sum(sizes) == 3 * 2 * 2 * 60 and max(sizes) == 100 and len(sizes) == 8


def _request(session: Session, connection_id: int, template: schemas.TemplateOut, *,
             fields: tuple[str, ...], filters: tuple[Filter, ...] = ()) -> FetchRequest:
    from core.models import Template
    from core.services.common import template_spec

    connection, stored = session.get(Connection, connection_id), session.get(Template, template.id)
    assert connection is not None and stored is not None
    info, spec = connection_info(session, connection), template_spec(stored)
    return FetchRequest(connection=info, account=AccountSpec("test", "test"), template=spec,
                        fields=fields, filters=filters, options={}, date_from=DAYS[2],
                        date_to=DAYS[4], today=NOW.date())


def test_the_password_is_stored_encrypted_only(
        db: Database, session: Session, pg_source: SourceDb) -> None:
    seed(pg_source)
    password = f"pw-{uuid.uuid4().hex}"  # trust auth: PostgreSQL accepts it, we must hide it
    connection = connect(session, pg_source, password=password)
    assert "password" not in connection.config
    assert connection.secret_fields == ["password"]
    done, _ = load(db, session, template=own_template(session, connection.id, "ad_stats"),
                   account_id=connection.accounts[0].id, fields=["day", "clicks"])
    assert done.status == "succeeded", done.error
    session.commit()

    assert password.encode() not in metadata_bytes(db.settings.var_dir)


@pytest.fixture
def mariadb_user(mariadb_source: SourceDb) -> Iterator[tuple[str, str]]:
    """A MariaDB user with a password, allowed into the test's database; dropped afterwards."""
    user, password = f"u{uuid.uuid4().hex[:10]}", f"pw-{uuid.uuid4().hex}"
    database = sa.engine.make_url(mariadb_source.url).database
    admin = sa.create_engine(MARIADB_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'"))
        conn.execute(sa.text(f"CREATE USER '{user}'@'localhost' IDENTIFIED BY '{password}'"))
        conn.execute(sa.text(f"GRANT ALL ON `{database}`.* TO '{user}'@'%'"))
        conn.execute(sa.text(f"GRANT ALL ON `{database}`.* TO '{user}'@'localhost'"))
    yield user, password
    with admin.begin() as conn:
        conn.execute(sa.text(f"DROP USER IF EXISTS '{user}'@'%'"))
        conn.execute(sa.text(f"DROP USER IF EXISTS '{user}'@'localhost'"))
    admin.dispose()


def test_a_wrong_password_says_authentication_failed(
        db: Database, session: Session, mariadb_source: SourceDb,
        mariadb_user: tuple[str, str]) -> None:
    seed(mariadb_source)
    user, password = mariadb_user
    url = sa.engine.make_url(mariadb_source.url).set(username=user).render_as_string()
    connection = service.create_connection(session=session, data={
        "datasource": "sql", "title": "MariaDB", "config": {"url": url, "password": password}})
    assert service.test_connection(session=session, connection_id=connection.id).ok
    session.commit()
    assert password.encode() not in metadata_bytes(db.settings.var_dir)

    stored = session.get(Connection, connection.id)
    assert stored is not None
    stored.secrets = db.cipher.encrypt({"password": "wrong"})
    result = service.test_connection(session=session, connection_id=connection.id)

    assert not result.ok
    assert result.message.startswith(f"authentication failed for user '{user}'")
    assert "check the user name in the URL and the password" in result.message


@pytest.mark.parametrize(("config", "field", "message"), [
    ({}, "config.url", "is required"),
    ({"url": "postgresql://postgres:hunter2@127.0.0.1/test"}, "config.url",
     "holds a password; remove it from the URL and put it in config.password"),
    ({"url": "not a url"}, "config.url", "is not a database URL"),
    ({"url": "oracle+nodriver://u@h/db"}, "config.url", "no installed driver"),
    ({"url": "sqlite:///x.db", "chunk_rows": 5}, "config.chunk_rows", "at least 100"),
])
def test_bad_config_is_refused_and_nothing_saved(
        db: Database, config: dict[str, Any], field: str, message: str) -> None:
    before = connection_count(db)
    with pytest.raises(errors.Invalid) as bad, db.session() as s:
        service.create_connection(session=s, data={"datasource": "sql", "title": "Bad",
                                                   "config": config})
    assert any(message in m for m in bad.value.for_field(field)), bad.value.problems
    assert connection_count(db) == before


def test_an_unreachable_host_is_named_and_nothing_saved(db: Database) -> None:
    before = connection_count(db)
    with pytest.raises(errors.Conflict) as refused, db.session() as s:
        service.create_connection(session=s, data={
            "datasource": "sql", "title": "Nowhere",
            "config": {"url": "postgresql://postgres@127.0.0.1:1/test"}})
    assert "host unreachable: nothing answered at 127.0.0.1:1" in str(refused.value)
    assert connection_count(db) == before


def test_a_missing_sqlite_file_is_named(db: Database, tmp_path: Any) -> None:
    with pytest.raises(errors.Conflict) as refused, db.session() as s:
        service.create_connection(session=s, data={
            "datasource": "sql", "title": "Gone",
            "config": {"url": f"sqlite:///{tmp_path / 'gone.db'}"}})
    assert "gone.db is missing" in str(refused.value)
    assert not (tmp_path / "gone.db").exists()  # SQLite must not create it


def test_a_table_dropped_after_discovery_fails_the_run_with_a_clear_error(
        db: Database, session: Session, pg_source: SourceDb) -> None:
    seed(pg_source)
    connection = connect(session, pg_source)
    template = own_template(session, connection.id, "ad_stats")
    with pg_source.engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE {pg_source.table('ad_stats')}"))

    done, _ = load(db, session, template=template, account_id=connection.accounts[0].id,
                   fields=["day", "clicks"])

    assert done.status == "failed"
    assert done.error is not None and "schema changed: the source no longer has" in done.error
    assert "ad_stats" in done.error
    assert "refresh the connection's templates" in done.error


TRICKY = "O'Brien \\' OR 1=1 -- 100%"


def test_values_arrive_as_the_template_declares_them_and_text_stays_text(
        db: Database, session: Session, source: SourceDb) -> None:
    """Read straight into Arrow (ADBC for PostgreSQL, ConnectorX for MariaDB): a NUMERIC is a
    number, a timestamp with a zone lands in UTC, and a filter's text, quotes and backslash
    and all, is compared as text (its values are quoted, never pasted as SQL)."""
    meta = sa.MetaData(schema=source.schema)
    ledger = sa.Table("ledger", meta, sa.Column("day", sa.Date),
                      sa.Column("amount", sa.Numeric(12, 4)),
                      sa.Column("seen_at", sa.DateTime(timezone=True)),
                      sa.Column("note", sa.String(100)))
    meta.create_all(source.engine)
    if source.kind == "postgresql":
        seen: Any = datetime.fromisoformat("2026-11-03T23:30:00-05:00")
    else:  # no zones there: the same instant, in UTC
        seen = datetime(2026, 11, 4, 4, 30)
    with source.engine.begin() as conn:
        conn.execute(ledger.insert(), [
            {"day": DAYS[3], "amount": "12.3456", "seen_at": seen, "note": TRICKY},
            {"day": DAYS[3], "amount": "1.0000", "seen_at": seen, "note": "O'Brien"},
            {"day": DAYS[4], "amount": "2.5000", "seen_at": seen, "note": "plain"},
        ])
    connection = connect(session, source)
    template = own_template(session, connection.id, "ledger")
    assert {f.name: f.type for f in template.fields} == {
        "day": "date", "amount": "number", "seen_at": "datetime", "note": "string"}

    done, rows = load(db, session, template=template, account_id=connection.accounts[0].id,
                      fields=["day", "amount", "seen_at", "note"],
                      filters=[{"field": "note", "operator": "eq", "value": TRICKY},
                               {"field": "note", "operator": "contains", "value": "100%"}])

    assert done.status == "succeeded", done.error
    assert done.rows == 1
    [row] = rows.to_dict("records")
    assert row["note"] == TRICKY
    assert row["amount"] == pytest.approx(12.3456)
    assert pd.Timestamp(row["seen_at"]) == pd.Timestamp("2026-11-04 04:30:00")
    assert pd.Timestamp(row["day"]).date() == DAYS[3]


def test_a_wrong_password_fails_the_run_at_once_naming_it(
        db: Database, session: Session, mariadb_source: SourceDb,
        mariadb_user: tuple[str, str]) -> None:
    import time

    seed(mariadb_source)
    user, password = mariadb_user
    url = sa.engine.make_url(mariadb_source.url).set(username=user).render_as_string()
    connection = service.create_connection(session=session, data={
        "datasource": "sql", "title": "MariaDB", "config": {"url": url, "password": password}})
    template = own_template(session, connection.id, "ad_stats")
    stored = session.get(Connection, connection.id)  # the password changed since
    assert stored is not None
    stored.secrets = db.cipher.encrypt({"password": "wrong"})

    started = time.monotonic()
    done, _ = load(db, session, template=template, account_id=connection.accounts[0].id,
                   fields=["day", "clicks"])

    assert time.monotonic() - started < 10  # not ConnectorX's 30 s of retries
    assert done.status == "failed"
    assert done.error is not None and "authentication failed" in done.error, done.error


def test_custom_sql_runs_read_only_on_every_database(
        db: Database, session: Session, source: SourceDb) -> None:
    """What an admin writes may look like a SELECT and still change data: a function with
    side effects. The source's session is read-only, so the data stays as it was."""
    seed(source)
    table = source.table("ad_stats")
    with source.engine.connect() as conn:
        before = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()
    connection = connect(session, source)
    attempts = []
    if source.kind == "postgresql":
        with source.engine.begin() as conn:
            conn.execute(sa.text(
                f"CREATE FUNCTION {source.table('wipe')}() RETURNS int LANGUAGE sql VOLATILE "
                f"AS 'DELETE FROM {table.replace(chr(39), chr(39) * 2)}; SELECT 1'"))
        attempts.append(f"SELECT day, {source.table('wipe')}() AS w FROM {table}")
    if source.kind == "mariadb":
        with source.engine.begin() as conn:
            conn.execute(sa.text(
                f"CREATE FUNCTION {source.table('wipe')}() RETURNS INT MODIFIES SQL DATA "
                f"BEGIN DELETE FROM {table}; RETURN 1; END"))
        attempts.append(f"SELECT day, {source.table('wipe')}() AS w FROM {table}")
    attempts.append(f"SELECT day, clicks FROM {table}")  # and a plain one still works
    for sql in attempts[:-1]:
        with pytest.raises(errors.Invalid, match=r"read.only|READ ONLY") as refused:
            add_query_template(session=session, connection_id=connection.id, name="sneaky",
                               sql=sql, date_column="day")
        assert "sql: the query failed" in str(refused.value)
    made = add_query_template(session=session, connection_id=connection.id, name="plain",
                              sql=attempts[-1], date_column="day")
    done, rows = load(db, session, template=made, account_id=connection.accounts[0].id,
                      fields=["day", "clicks"])
    assert done.status == "succeeded" and len(rows) > 0, done.error
    with source.engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() == before


def test_an_unsigned_bigint_beyond_64_bits_fails_naming_the_field_and_a_cast_loads_it(
        db: Database, session: Session, mariadb_source: SourceDb) -> None:
    meta = sa.MetaData(schema=mariadb_source.schema)
    hashes = sa.Table("hashes", meta, sa.Column("day", sa.Date),
                      sa.Column("fingerprint", mysql.BIGINT(unsigned=True)))
    meta.create_all(mariadb_source.engine)
    with mariadb_source.engine.begin() as conn:
        conn.execute(hashes.insert(), [{"day": DAYS[3], "fingerprint": 2**64 - 1},
                                       {"day": DAYS[3], "fingerprint": 5}])
    connection = connect(session, mariadb_source)
    template = own_template(session, connection.id, "hashes")
    assert {f.name: f.type for f in template.fields} == {"day": "date",
                                                          "fingerprint": "integer"}

    failed, rows = load(db, session, template=template, account_id=connection.accounts[0].id,
                        fields=["day", "fingerprint"])
    assert failed.status == "failed"
    assert failed.error == (
        "fingerprint: the source sent 18446744073709551615, beyond what an integer field "
        "holds (-9223372036854775808 to 9223372036854775807); read the column as text (a "
        "custom query's CAST, for a database)")
    assert rows.empty  # nothing of the window was written

    as_text = add_query_template(
        session=session, connection_id=connection.id, name="hashes_text",
        title="Hashes as text", date_column="day",
        sql=f"SELECT day, CAST(fingerprint AS CHAR) AS fingerprint FROM "
            f"{mariadb_source.table('hashes')}")
    done, rows = load(db, session, template=as_text, account_id=connection.accounts[0].id,
                      fields=["day", "fingerprint"])
    assert done.status == "succeeded", done.error
    assert sorted(rows["fingerprint"]) == ["18446744073709551615", "5"]
