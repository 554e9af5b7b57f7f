"""GET requests read in a read-only session: on SQLite they answer while another process holds
the write lock, and what they read is the same as before (relations, next run, role check)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from core.db import Database
from core.models import AuditEvent
from tests.api.conftest import Clock
from tests.conftest import NOW, extract_body


def test_reading_an_extract_does_not_wait_for_a_writer(client: TestClient, db: Database,
                                                       clock: Clock) -> None:
    created = client.post("/api/v3/extracts", json=extract_body(accounts=[1]))
    assert created.status_code == 201, created.text
    [extract] = created.json()
    with db.session() as session:
        logged = session.scalar(select(func.count()).select_from(AuditEvent))
    clock.now = NOW + timedelta(seconds=30)  # the key's last use is recent: nothing to record
    database = db.settings.var_dir / "extracts.db"
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process in the middle of a write
    try:
        answer = client.get(f"/api/v3/extracts/{extract['id']}")
    finally:
        holder.rollback()
        holder.close()

    assert answer.status_code == 200, answer.text
    read = answer.json()
    assert read["account_name"] == extract["account_name"]
    assert read["data_table_title"] == "Campaign stats"
    assert read["template_title"] == extract["template_title"]
    assert [s["id"] for s in read["schedules"]] == [s["id"] for s in extract["schedules"]]
    assert read["next_run_at"] == "2026-11-29T00:00:00Z"  # daily at 00:00 UTC, after the clock
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == logged



def test_an_extract_reads_the_same_alone_as_in_the_list(client: TestClient) -> None:
    created = client.post("/api/v3/extracts", json=extract_body(accounts=[2, 3], schedules=[
        {"frequency": "weekly", "weekday": "mon", "hour": 7, "timezone": "Europe/Berlin"},
        {"frequency": "hourly", "every_hours": 6, "minute": 5}]))
    assert created.status_code == 201, created.text

    listed = client.get("/api/v3/extracts").json()["results"]
    alone = [client.get(f"/api/v3/extracts/{e['id']}") for e in created.json()]

    assert [a.status_code for a in alone] == [200, 200]
    assert all(a.headers["content-type"] == "application/json" for a in alone)
    assert [a.json() for a in alone] == [e for e in listed if e["id"] in
                                         {c["id"] for c in created.json()}]
