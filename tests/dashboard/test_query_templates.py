"""Custom query templates written on a SQL connection's card."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from core import service
from core.db import Database
from dashboard import navigation
from dashboard.query_templates import key
from dashboard.widgets import slot_key
from tests.dashboard.conftest import open_page, texts


@pytest.fixture
def sql_connection(app_db: Database, tmp_path: Path) -> int:
    """A sql connection to a SQLite file holding ad_stats (day, campaign, clicks)."""
    path = tmp_path / "source.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE ad_stats (day DATE, campaign TEXT, clicks INTEGER)"))
        conn.execute(sa.text("INSERT INTO ad_stats VALUES ('2026-11-01', 'Spring', 10), "
                             "('2026-11-01', 'Autumn', 20), ('2026-11-02', 'Spring', 30)"))
    engine.dispose()
    with app_db.session() as s:
        connection = service.create_connection(session=s, data={
            "datasource": "sql", "title": "Shop database",
            "config": {"url": f"sqlite:///{path}"}})
    return connection.id


def fill(at: AppTest, connection_id: int, **values: str) -> AppTest:
    """Type into the query form's fields and press Save."""
    for field, value in values.items():
        widget = at.text_area if field == "sql" else at.text_input
        widget(key=key(connection_id, field)).set_value(value)
    at.button(key=f"FormSubmitter:{key(connection_id, 'form')}-Save query template").click()
    return at.run()


def slot_errors(at: AppTest, connection_id: int, field: str) -> list[str]:
    return [str(e.value) for e in
            at.get_by_key(slot_key(f"connections_query_{connection_id}", field)).error]


def query_template_names(app_db: Database, connection_id: int) -> list[str]:
    with app_db.session() as s:
        return [t.name for t in service.list_templates(session=s, connection_id=connection_id)
                if t.name.startswith("query:")]


def test_a_query_written_on_the_card_becomes_a_template_for_new_extracts(
        app_db: Database, sql_connection: int) -> None:
    at = open_page(navigation.CONNECTIONS)
    assert not at.exception
    assert "No custom queries yet" in texts(at)

    fill(at, sql_connection, name="clicks_by_day", title="Clicks by day",
         sql="SELECT day, SUM(clicks) AS total_clicks FROM ad_stats GROUP BY day;")

    assert not at.exception
    assert "Saved 'Clicks by day' with 2 field(s)" in texts(at)
    with app_db.session() as s:
        [template] = [t for t in service.list_templates(session=s, connection_id=sql_connection)
                      if t.name == "query:clicks_by_day"]
    assert template.title == "Clicks by day"
    assert [(f.name, f.type) for f in template.fields] == [("day", "date"),
                                                           ("total_clicks", "integer")]
    assert template.date_field == "day"
    # The card lists it with its SQL, and the form is empty again.
    assert [c.value for c in at.code] == [
        "SELECT day, SUM(clicks) AS total_clicks FROM ad_stats GROUP BY day"]
    assert at.text_input(key=key(sql_connection, "name")).value == ""

    at.switch_page(navigation.NEW_EXTRACT).run()
    at.selectbox(key="new_datasource").select("sql").run()
    templates = at.selectbox(key=f"new_template_{sql_connection}")
    assert "Clicks by day" in templates.options
    templates.select(template.id).run()
    assert not at.exception
    assert at.checkbox(key=f"new_field_{template.id}_total_clicks").value


def test_a_bad_query_is_shown_under_the_sql_and_nothing_is_saved(
        app_db: Database, sql_connection: int) -> None:
    at = open_page(navigation.CONNECTIONS)

    fill(at, sql_connection, name="broken", sql="SELECT day, clicks FROM nowhere")

    assert not at.exception
    [message] = slot_errors(at, sql_connection, "sql")
    assert message.startswith("the query failed:") and "no such table: nowhere" in message
    assert slot_errors(at, sql_connection, "name") == []
    assert query_template_names(app_db, sql_connection) == []
    with app_db.session() as s:
        assert service.list_query_templates(session=s, connection_id=sql_connection) == []
    # What was typed stays, to be corrected.
    assert at.text_area(key=key(sql_connection, "sql")).value == "SELECT day, clicks FROM nowhere"


def test_each_problem_is_shown_next_to_its_own_field(
        app_db: Database, sql_connection: int) -> None:
    at = open_page(navigation.CONNECTIONS)

    fill(at, sql_connection, name="Bad Name", sql="DELETE FROM ad_stats")

    assert slot_errors(at, sql_connection, "name") == [
        "'Bad Name' must be 1-60 lowercase letters, digits or _, starting with a letter"]
    assert slot_errors(at, sql_connection, "sql") == [
        "must be one SELECT (or WITH ... SELECT) statement"]

    fill(at, sql_connection, name="by_campaign", sql="SELECT day, campaign FROM ad_stats",
         date_column="campaign")

    [message] = slot_errors(at, sql_connection, "date_column")
    assert message.startswith("'campaign' is not a date or timestamp column of the query")
    assert query_template_names(app_db, sql_connection) == []


def test_only_sql_connections_offer_custom_queries(app_db: Database,
                                                   sql_connection: int) -> None:
    at = open_page(navigation.CONNECTIONS)

    def sections(card: str) -> list[str]:  # every card also has Edit and Delete
        return [e.label for e in at.get_by_key(card).expander
                if e.label not in ("Edit", "Delete")]

    assert sections("connections_card_1") == []
    assert sections(f"connections_card_{sql_connection}") == ["Custom query templates"]
