"""Real Airbyte sources from PyPI (pinned): installed once per session into the shared
sources folder, never into the product's environment; discover, a window run checked
against the source's own output, a no-date stream, an install that fails, the API call."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import errors, service
from core.connectors.programs import installer
from core.db import Database
from core.models import Connection
from tests.conftest import NOW
from tests.core.connectors.conftest import load, own_template

FAKER = {"package": "airbyte-source-faker", "version": "7.2.1",
         "source_config": {"count": 2000, "seed": 7, "always_updated": False,
                           "parallelism": 1, "records_per_slice": 500},
         "date_fields": "users=created_at"}
HARDCODED = {"package": "airbyte-source-hardcoded-records", "version": "0.0.48",
             "source_config": {"count": 25}}


def faker_users(sources_dir: Path) -> list[dict[str, Any]]:
    """Every users record the installed faker writes for FAKER's settings, read straight
    from the program (the oracle)."""
    program = installer.installed("airbyte-source-faker", "7.2.1")
    assert program is not None
    folder = sources_dir / f"oracle-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(FAKER["source_config"]))
    out = subprocess.run([str(program.executable), "discover", "--config",
                          str(folder / "config.json")], capture_output=True, text=True,
                         check=True).stdout
    catalog = next(json.loads(line) for line in out.splitlines()
                   if line.startswith('{"type":"CATALOG"'))["catalog"]
    [users] = [s for s in catalog["streams"] if s["name"] == "users"]
    (folder / "catalog.json").write_text(json.dumps({"streams": [{
        "stream": users, "sync_mode": "full_refresh", "destination_sync_mode": "append"}]}))
    out = subprocess.run([str(program.executable), "read", "--config",
                          str(folder / "config.json"), "--catalog",
                          str(folder / "catalog.json")],
                         capture_output=True, text=True, check=True).stdout
    return [m["record"]["data"] for m in map(json.loads, out.splitlines())
            if m["type"] == "RECORD"]


def test_faker_installs_into_its_own_environment_and_offers_its_streams(
        db: Database, session: Session, sources_dir: Path) -> None:
    connection = service.create_connection(session=session, now=NOW, data={
        "datasource": "airbyte", "title": "Faker", "config": FAKER})
    assert [a.name for a in connection.accounts] == ["airbyte-source-faker 7.2.1"]
    program = installer.installed("airbyte-source-faker", "7.2.1")
    assert program is not None and program.env_dir.parent == sources_dir
    assert program.command == "source-faker"
    assert importlib.util.find_spec("source_faker") is None  # not in the product's env
    users = own_template(session, connection.id, "users")
    products = own_template(session, connection.id, "products")
    assert users.date_field == "created_at__date"  # date_fields chose it
    assert products.date_field == "updated_at__date"  # the cursor
    assert {"id", "name", "address.city", "created_at"} <= {f.name for f in users.fields}
    assert {t.name for t in service.list_templates(session=session,
                                                   connection_id=connection.id)
            if t.connection_id == connection.id} == {"users", "products", "purchases"}
    check = service.test_connection(session=session, connection_id=connection.id)
    assert check.ok, check.message


def test_a_faker_window_run_loads_the_windows_users_only(
        db: Database, session: Session, sources_dir: Path) -> None:
    installer.ensure("airbyte-source-faker", "7.2.1")
    marker = installer.env_dir("airbyte-source-faker", "7.2.1") / installer.MARKER
    installed_at = marker.stat().st_mtime_ns
    connection = service.create_connection(session=session, now=NOW, data={
        "datasource": "airbyte", "title": "Faker", "config": FAKER})
    assert marker.stat().st_mtime_ns == installed_at  # the environment is reused
    window = (date(2019, 3, 1), date(2019, 3, 31))
    done, rows = load(db, session, template=own_template(session, connection.id, "users"),
                      account_id=connection.accounts[0].id,
                      fields=["created_at__date", "id", "name", "age"],
                      date_from=window[0], date_to=window[1])
    assert done.status == "succeeded", done.error
    expected = sorted(u["id"] for u in faker_users(sources_dir)
                      if window[0].isoformat() <= u["created_at"][:10] <= window[1].isoformat())
    assert expected, "the seed gives users created in the window"
    assert sorted(rows["id"]) == expected


def test_hardcoded_records_no_date_stream_loads_whole(
        db: Database, session: Session, sources_dir: Path) -> None:
    connection = service.create_connection(session=session, now=NOW, data={
        "datasource": "airbyte", "title": "Hardcoded", "config": HARDCODED})
    dummy = own_template(session, connection.id, "dummy_fields")
    assert dummy.date_field is None
    done, rows = load(db, session, template=dummy, account_id=connection.accounts[0].id,
                      fields=[f.name for f in dummy.fields], date_from=None, date_to=None)
    assert done.status == "succeeded", done.error
    assert len(rows) == 25


def test_an_install_that_fails_shows_pips_error_and_writes_nothing(
        db: Database, session: Session, sources_dir: Path) -> None:
    package = "airbyte-source-extracts-no-such-package"
    with pytest.raises(errors.Invalid) as caught:
        service.create_connection(session=session, now=NOW, data={
            "datasource": "airbyte", "title": "Nothing", "config": {"package": package}})
    said = str(caught.value)
    assert "config.package" in said and f"pip could not install {package}" in said
    assert "No matching distribution found" in said, said
    assert not installer.env_dir(package, None).exists()
    assert session.scalar(select(func.count()).select_from(Connection).where(
        Connection.datasource == "airbyte")) == 0


def test_a_bad_package_name_is_refused_before_any_install(
        db: Database, session: Session) -> None:
    with pytest.raises(errors.Invalid, match="is not a PyPI package name"):
        service.create_connection(session=session, now=NOW, data={
            "datasource": "airbyte", "title": "Bad",
            "config": {"package": "--index-url=http://evil/ x"}})


def test_the_api_creates_an_airbyte_connection(client: TestClient,
                                               sources_dir: Path) -> None:
    answer = client.post("/api/v3/connections", json={
        "datasource": "airbyte", "title": "Faker via API", "config": FAKER})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["datasource"] == "airbyte"
    assert body["config"]["package"] == "airbyte-source-faker"
    templates = client.get("/api/v3/datasources/airbyte/extract-templates",
                           params={"connection_id": body["id"]}).json()
    assert {t["name"] for t in templates} >= {"users", "products", "purchases"}
