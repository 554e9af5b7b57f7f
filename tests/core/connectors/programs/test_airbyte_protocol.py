"""The airbyte datasource against source programs that speak the protocol: spec and secrets,
check, discover (a date stream and a no-date stream), a window run, an incremental second
run from the saved state, a TRACE error, a crash, a hanging source cancelled and timed out."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from core import runner, schemas, service
from core.db import Database
from core.models import Connection, Run, SourceState
from core.worker import run_queue
from tests.conftest import NOW
from tests.core.connectors.conftest import own_template
from tests.core.connectors.programs import sources

KEY = "right-key-1234"


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds} s for {what}")
        time.sleep(0.05)


def connect(session: Session, sources_dir: Path, mode: str = "ok"
            ) -> tuple[schemas.ConnectionOut, Path]:
    package = f"test-source-days-{uuid.uuid4().hex[:8]}"
    folder = sources.place(sources_dir, package)
    connection = service.create_connection(session=session, now=NOW, data={
        "datasource": "airbyte", "title": f"Days {mode}",
        "config": {"package": package, "version": "1",
                   "source_config": {"api_key": KEY, "mode": mode}}})
    return connection, folder


def extract_of(session: Session, connection: schemas.ConnectionOut, stream: str,
               fields: list[str]) -> int:
    template = own_template(session, connection.id, stream)
    [extract] = service.create_extracts(session=session, now=NOW, data={
        "data_table_title": f"{stream} {uuid.uuid4().hex[:6]}", "template_id": template.id,
        "template_settings": {"fields": fields, "filters": []},
        "accounts": [connection.accounts[0].id]})
    return extract.id


def run(db: Database, session: Session, extract_id: int, date_from: date | None,
        date_to: date | None) -> schemas.RunOut:
    [queued] = service.run_extract(session=session, extract_id=extract_id,
                                   date_from=date_from, date_to=date_to, now=NOW)
    session.commit()
    return runner.execute_run(db=db, run_id=queued.id)


def test_secret_is_stored_encrypted_and_handed_to_the_source(
        db: Database, session: Session, sources_dir: Path) -> None:
    connection, folder = connect(session, sources_dir)
    assert connection.config["source_config"] == {"mode": "ok"}
    assert connection.secrets_set == ["source_config.api_key"]
    stored = session.get(Connection, connection.id)
    assert stored is not None and KEY not in str(stored.config) and KEY not in stored.secrets
    check = service.test_connection(session=session, connection_id=connection.id)
    assert check.ok, check.message
    assert [c["config"] for c in sources.calls(folder) if c["command"] == "check"] == [
        {"api_key": KEY, "mode": "ok"}]


def test_a_wrong_secret_fails_the_check_with_the_sources_words(
        db: Database, session: Session, sources_dir: Path) -> None:
    connection, _ = connect(session, sources_dir)
    service.update_connection(session=session, connection_id=connection.id, data={
        "config": {"source_config": {"mode": "ok"}}})  # the secret left out: kept
    with pytest.raises(Exception, match="the API key was refused"):
        service.update_connection(session=session, connection_id=connection.id, data={
            "config": {"source_config": {"mode": "ok", "api_key": "wrong-key-9"}}})


def test_a_required_source_setting_is_named(db: Database, session: Session,
                                            sources_dir: Path) -> None:
    package = f"test-source-days-{uuid.uuid4().hex[:8]}"
    sources.place(sources_dir, package)
    with pytest.raises(Exception) as caught:
        service.create_connection(session=session, now=NOW, data={
            "datasource": "airbyte", "title": "No key",
            "config": {"package": package, "version": "1", "source_config": {"mode": "ok"}}})
    assert "config.source_config.api_key" in str(caught.value)
    assert "is required by the source" in str(caught.value)


def test_discover_makes_a_template_per_stream_with_the_cursor_as_date_field(
        db: Database, session: Session, sources_dir: Path) -> None:
    connection, _ = connect(session, sources_dir)
    sales = own_template(session, connection.id, "sales")
    codes = own_template(session, connection.id, "codes")
    assert sales.date_field == "day"
    assert {f.name: f.type for f in sales.fields} == {
        "id": "integer", "day": "date", "amount": "number", "note": "string"}
    assert codes.date_field is None


def test_a_window_run_loads_only_the_window_and_a_second_run_resumes_from_the_state(
        db: Database, session: Session, sources_dir: Path) -> None:
    connection, folder = connect(session, sources_dir)
    extract_id = extract_of(session, connection, "sales", ["id", "day", "amount"])

    first = run(db, session, extract_id, date(2026, 11, 3), date(2026, 11, 4))
    assert first.status == "succeeded", first.error
    rows = service.preview_rows(session=session, extract_id=extract_id, limit=1000)
    assert sorted(rows["id"]) == list(range(6, 12))
    assert {str(d)[:10] for d in rows["day"]} == {"2026-11-03", "2026-11-04"}
    reads = [c for c in sources.calls(folder) if c["command"] == "read"]
    # No saved state yet: a read from the beginning (a state is never made up).
    assert reads[0]["state"] is None
    kept = session.get(SourceState, extract_id)  # kept with the window's rows
    assert kept is not None and kept.state == {"day": "2026-11-10"}
    messages = [line["message"] for line in first.log]
    # The source's log lines at their own levels, its DEBUG lines left out.
    levels = {line["message"]: line["level"] for line in first.log}
    assert levels["source: reading in mode ok"] == "info"
    assert levels["source: 90% of the daily quota used"] == "warning"
    assert not any("page 1 of 1" in m for m in messages)
    assert any("dropped" in m and "outside the window" in m for m in messages)

    second = run(db, session, extract_id, date(2026, 11, 9), date(2026, 11, 10))
    assert second.status == "succeeded", second.error
    reads = [c for c in sources.calls(folder) if c["command"] == "read"]
    # The first read ended at 2026-11-10, after this window's first day: sending it would
    # skip 2026-11-09, so the source reads from the beginning again.
    assert reads[1]["state"] is None
    rows = service.preview_rows(session=session, extract_id=extract_id, limit=1000)
    assert sorted(rows["id"]) == [*range(6, 12), *range(24, 30)]


def test_the_saved_state_is_sent_when_it_is_not_after_the_window(
        db: Database, session: Session, sources_dir: Path) -> None:
    connection, folder = connect(session, sources_dir)
    extract_id = extract_of(session, connection, "sales", ["id", "day"])
    session.add(SourceState(extract_id=extract_id, state={"day": "2026-11-07"},
                            updated_at=NOW))
    done = run(db, session, extract_id, date(2026, 11, 8), date(2026, 11, 8))
    assert done.status == "succeeded", done.error
    [read] = [c for c in sources.calls(folder) if c["command"] == "read"]
    assert read["state"][0]["stream"]["stream_state"] == {"day": "2026-11-07"}
    assert {"level": "info", "message": "the source sent 12 record(s) of sales (incremental "
            "from its saved state)"} in [{k: line[k] for k in ("level", "message")}
                                         for line in done.log]
    rows = service.preview_rows(session=session, extract_id=extract_id, limit=1000)
    assert sorted(rows["id"]) == [21, 22, 23]
    session.expire_all()
    kept = session.get(SourceState, extract_id)
    assert kept is not None and kept.state == {"day": "2026-11-10"}


def test_a_no_date_stream_loads_whole(db: Database, session: Session,
                                      sources_dir: Path) -> None:
    connection, _ = connect(session, sources_dir)
    extract_id = extract_of(session, connection, "codes", ["code", "size"])
    done = run(db, session, extract_id, None, None)
    assert done.status == "succeeded", done.error
    rows = service.preview_rows(session=session, extract_id=extract_id, limit=1000)
    assert sorted(rows["code"]) == ["c0", "c1", "c2", "c3"]


@pytest.mark.parametrize(("mode", "said"), [
    ("trace", "the source failed: quota exceeded for key ending 1234"),
    ("crash", "exited with status 3: Traceback: the source crashed on record 7")])
def test_a_failing_source_fails_the_run_with_its_own_message(
        db: Database, session: Session, sources_dir: Path, mode: str, said: str) -> None:
    connection, _ = connect(session, sources_dir, mode=mode)
    extract_id = extract_of(session, connection, "sales", ["id", "day"])
    done = run(db, session, extract_id, date(2026, 11, 3), date(2026, 11, 4))
    assert done.status == "failed"
    assert done.error is not None and said in done.error, done.error
    assert KEY not in str(done.log) and KEY not in done.error
    assert service.preview_rows(session=session, extract_id=extract_id, limit=10).empty


@pytest.mark.parametrize("stopper", ["cancel", "timeout"])
def test_a_hanging_source_is_stopped_and_its_process_killed(
        db: Database, session: Session, sources_dir: Path, stopper: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "HEARTBEAT_SECONDS", 0.2)
    connection, folder = connect(session, sources_dir, mode="hang")
    extract_id = extract_of(session, connection, "sales", ["id", "day"])
    [queued] = service.run_extract(session=session, extract_id=extract_id,
                                   date_from=date(2026, 11, 3), date_to=date(2026, 11, 4),
                                   now=NOW)
    session.commit()
    outcome: list[schemas.RunOut] = []
    thread = threading.Thread(target=lambda: outcome.append(runner.execute_run(
        db=db, run_id=queued.id, worker_id="w1")))
    thread.start()
    pid_file = folder / "bin" / "pid"
    wait_for(pid_file.exists, "the source to start hanging")
    pid = int(pid_file.read_text())
    if stopper == "cancel":
        with db.session() as s:
            service.cancel_run(session=s, run_id=queued.id, now=NOW)
    else:
        with db.session() as s:
            started = s.get(Run, queued.id)
            assert started is not None and started.started_at is not None
            later = started.started_at + timedelta(seconds=db.settings.run_timeout + 1)
        assert run_queue.time_out_runs(db, "w1", later) == [queued.id]
    thread.join(timeout=60)
    assert not thread.is_alive()
    [done] = outcome
    assert done.status == "cancelled", done.error
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert service.preview_rows(session=session, extract_id=extract_id, limit=10).empty
