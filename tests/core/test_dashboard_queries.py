from datetime import date

from sqlalchemy.orm import Session

from core import runner, service
from core.db import Database
from core.services import dashboard_queries
from tests.conftest import NOW, make_extract


def test_the_run_window_is_the_lookback_of_the_first_schedule(session: Session) -> None:
    extract = make_extract(session, schedules=[{"lookback": 3, "timezone": "Asia/Tokyo"}])
    lifetime = make_extract(session, template_id=4, data_table_title="Campaigns",
                            template_settings={"fields": ["campaign_id"]})

    # 10:00 UTC is 19:00 in Tokyo, still 2026-11-28 there.
    assert dashboard_queries.run_window(session=session, extract_id=extract.id, now=NOW) == (
        date(2026, 11, 26), date(2026, 11, 28))
    assert dashboard_queries.run_window(session=session, extract_id=lifetime.id) is None


def test_last_run_rows_reads_the_latest_finished_run_of_each(db: Database) -> None:
    with db.session() as s:
        first, second = (make_extract(s), make_extract(s, accounts=[2]))
        [run] = service.run_extract(session=s, extract_id=first.id, date_from=date(2026, 11, 27),
                                    date_to=date(2026, 11, 28), now=NOW)
    runner.execute_run(db=db, run_id=run.id)
    with db.session() as s:
        service.run_extract(session=s, extract_id=first.id, now=NOW)  # queued: not counted
        rows = dashboard_queries.last_run_rows(session=s, extract_ids=[first.id, second.id])
    assert rows == {first.id: 40}


def test_extract_titles_names_the_extracts_that_exist(session: Session) -> None:
    first = make_extract(session)
    second = make_extract(session, accounts=[2], title="Globex spend")

    assert dashboard_queries.extract_titles(session=session,
                                            extract_ids=[first.id, second.id, 999]) == {
        first.id: "Acme Retail · Campaign performance (daily)", second.id: "Globex spend"}
