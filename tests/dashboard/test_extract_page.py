from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streamlit.testing.v1 import AppTest

from core import runner, service
from core.db import Database
from core.models import Run
from dashboard import navigation
from dashboard.widgets import slot_key
from tests.conftest import make_extract
from tests.dashboard.conftest import APP, SCRIPT_TIMEOUT, open_page, texts


def today() -> datetime:
    return datetime.now(UTC)


def an_extract(db: Database) -> int:
    with db.session() as s:
        return make_extract(s).id


def runs_of(db: Database, extract_id: int) -> list[tuple[str, str, str, str]]:
    with db.session() as s:
        return [(r.trigger, r.status, str(r.date_from), str(r.date_to))
                for r in service.list_runs(session=s, extract_id=extract_id)]


def test_without_an_extract_the_page_points_to_the_list(app_db: Database) -> None:
    at = open_page(navigation.EXTRACT)

    assert not at.exception
    assert "Pick an extract in the list" in texts(at)


def test_an_unknown_extract_says_so(app_db: Database) -> None:
    at = open_page(navigation.EXTRACT, extract_id=99)

    assert not at.exception
    assert "extract 99 does not exist" in texts(at)


def test_the_id_in_the_address_opens_that_extract(app_db: Database) -> None:
    extract_id = an_extract(app_db)
    at = AppTest.from_file(APP, default_timeout=SCRIPT_TIMEOUT)
    at.query_params["id"] = str(extract_id)
    at.run()
    at.switch_page(navigation.EXTRACT).run()

    assert not at.exception
    assert at.title[0].value == "Acme Retail · Campaign performance (daily)"


def test_run_queues_a_run_for_the_lookback_window(app_db: Database) -> None:
    extract_id = an_extract(app_db)
    at = open_page(navigation.EXTRACT, extract_id=extract_id)
    assert not at.exception
    assert at.title[0].value == "Acme Retail · Campaign performance (daily)"
    day = today().date()
    assert at.date_input(key=f"extract_{extract_id}_date_from").value == day - timedelta(days=6)
    assert at.date_input(key=f"extract_{extract_id}_date_to").value == day

    at.button(key="extract_run").click().run()

    assert not at.exception
    assert "Queued 1 run(s)." in texts(at)
    assert runs_of(app_db, extract_id) == [
        ("manual", "queued", str(day - timedelta(days=6)), str(day))]
    runs = at.get_by_key(f"extract_runs_{extract_id}").dataframe[0].value
    assert list(runs["status"]) == ["○ queued"]
    assert ":blue-badge[:material/sync: syncing]" in texts(at)


def test_a_queued_run_can_be_cancelled(app_db: Database) -> None:
    extract_id = an_extract(app_db)
    with app_db.session() as s:
        [run] = service.run_extract(session=s, extract_id=extract_id)
    at = open_page(navigation.EXTRACT, extract_id=extract_id)
    at.button(key=f"extract_cancel_{run.id}").click().run()

    assert not at.exception
    assert [r[1] for r in runs_of(app_db, extract_id)] == ["cancelled"]
    runs = at.get_by_key(f"extract_runs_{extract_id}").dataframe[0].value
    assert list(runs["status"]) == ["⊘ cancelled"]


def test_a_preset_fills_the_dates(app_db: Database) -> None:
    extract_id = an_extract(app_db)
    at = open_page(navigation.EXTRACT, extract_id=extract_id)
    at.button(key="extract_preset_yesterday").click().run()

    yesterday = today().date() - timedelta(days=1)
    assert at.date_input(key=f"extract_{extract_id}_date_from").value == yesterday
    assert at.date_input(key=f"extract_{extract_id}_date_to").value == yesterday


def test_bad_dates_are_shown_next_to_them_and_queue_nothing(app_db: Database) -> None:
    extract_id = an_extract(app_db)
    at = open_page(navigation.EXTRACT, extract_id=extract_id)
    day = today().date()
    at.date_input(key=f"extract_{extract_id}_date_from").set_value(day - timedelta(days=1))
    at.date_input(key=f"extract_{extract_id}_date_to").set_value(day + timedelta(days=1))
    at.button(key="extract_run").click().run()

    assert not at.exception
    to_problems = [e.value for e in at.get_by_key(slot_key("extract", "date_to")).error]
    assert to_problems == [f"End date {day + timedelta(days=1)} is in the future; use {day} "
                           "or earlier"]
    assert "No run was queued: fix the problems marked above." in texts(at)
    assert runs_of(app_db, extract_id) == []

    at.date_input(key=f"extract_{extract_id}_date_from").set_value(day)
    at.date_input(key=f"extract_{extract_id}_date_to").set_value(day - timedelta(days=2))
    at.button(key="extract_run").click().run()
    from_problems = [e.value for e in at.get_by_key(slot_key("extract", "date_from")).error]
    assert from_problems == [
        f"Start date {day} is after end date {day - timedelta(days=2)}"]
    assert runs_of(app_db, extract_id) == []


def test_a_finished_run_shows_its_rows_log_and_last_sync(app_db: Database) -> None:
    extract_id = an_extract(app_db)
    with app_db.session() as s:
        [run] = service.run_extract(session=s, extract_id=extract_id)
    runner.execute_run(db=app_db, run_id=run.id)

    at = open_page(navigation.EXTRACT, extract_id=extract_id)

    assert not at.exception
    assert at.metric[0].value == "just now"
    runs = at.get_by_key(f"extract_runs_{extract_id}").dataframe[0].value
    assert list(runs["status"]) == ["● succeeded"] and list(runs["rows"]) == ["140"]
    preview = at.dataframe[1].value
    assert len(preview) == 50 and set(preview["account_name"]) == {"Acme Retail"}
    assert "succeeded" in at.expander[0].label
    assert f"extract_cancel_{run.id}" not in [b.key for b in at.button]


def test_pause_then_resume(app_db: Database) -> None:
    extract_id = an_extract(app_db)
    at = open_page(navigation.EXTRACT, extract_id=extract_id)
    at.button(key="extract_pause").click().run()

    assert "Paused: its schedules will not fire" in texts(at)
    assert at.metric[1].value == "paused"
    at.button(key="extract_resume").click().run()
    with app_db.session() as s:
        assert service.get_extract(session=s, extract_id=extract_id).status == "active"


def test_delete_asks_first_and_keeps_rows_unless_ticked(app_db: Database) -> None:
    extract_id = an_extract(app_db)
    at = open_page(navigation.EXTRACT, extract_id=extract_id)
    at.button(key="extract_delete").click().run()
    assert "with its schedules and runs?" in texts(at)
    at.button(key="extract_delete_cancel").click().run()
    with app_db.session() as s:
        assert service.list_extracts(session=s).total == 1

    at.button(key="extract_delete").click().run()
    at.checkbox(key=f"extract_{extract_id}_delete_rows").check()
    at.button(key="extract_delete_confirm").click().run()

    assert not at.exception
    with app_db.session() as s:
        assert service.list_extracts(session=s).total == 0
    assert "Deleted 'Acme Retail · Campaign performance (daily)' and 0 rows." in texts(at)


def test_the_runs_table_flags_volume_anomalies(app_db: Database) -> None:
    extract_id = an_extract(app_db)
    start = datetime(2026, 10, 1, 1, tzinfo=UTC)
    with app_db.session() as s:
        def succeeded(day: int, rows: int, days: int = 1) -> int:
            queued = start + timedelta(days=day)
            run = Run(extract_id=extract_id, status="succeeded", trigger="schedule",
                      queued_at=queued, started_at=queued, finished_at=queued, rows=rows,
                      duration_seconds=0, date_from=queued.date() - timedelta(days=days - 1),
                      date_to=queued.date(), log=[])
            s.add(run)
            s.flush()
            return run.id

        usual = [succeeded(n, rows=200, days=2) for n in range(5)]  # 100 rows a day
        low = succeeded(5, rows=40)

    at = open_page(navigation.EXTRACT, extract_id=extract_id)

    assert not at.exception
    table = at.get_by_key(f"extract_runs_{extract_id}").dataframe[0].value
    volume = dict(zip(table["run"], table["volume"], strict=True))
    assert volume[low] == "▼ 0.4× the median (100/day)"
    assert [volume[run_id] for run_id in usual] == [""] * 5
