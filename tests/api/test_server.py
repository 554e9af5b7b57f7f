"""The API over a real `uvicorn api.app:app` process on a loopback port, as a script sees it."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx2 as httpx
import pytest

from tests import servers

ROOT = Path(__file__).resolve().parents[2]


def server_env(var_dir: Path) -> dict[str, str]:
    return servers.server_env(var_dir, "server-test")


def start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """`uvicorn api.app:app` on 127.0.0.1:`port`, once it answers."""
    return servers.start(
        [sys.executable, "-m", "uvicorn", "api.app:app", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        env=env, ready_url=f"http://127.0.0.1:{port}/api/openapi.json",
        log=Path(env["EXTRACTS_VAR_DIR"]).parent / f"uvicorn-{port}.log", timeout=30)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A running server on embedded defaults (its own var dir) and the environment it has."""
    env = server_env(tmp_path / "var")
    port = servers.free_port()
    process = start_server(env, port)
    yield f"http://127.0.0.1:{port}", env
    servers.stop(process)


def create_key_with_cli(env: dict[str, str]) -> tuple[str, str]:
    done = subprocess.run([sys.executable, "-m", "core.apikeys", "create", "server test"],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    lines = dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line)
    return lines["key id"], lines["secret"]


@pytest.mark.slow
def test_a_script_creates_runs_and_reads_an_extract(
        server: tuple[str, dict[str, str]]) -> None:
    base, env = server
    key_id, secret = create_key_with_cli(env)

    token = httpx.post(f"{base}/api/v3/token", auth=(key_id, secret)).json()["access_token"]
    api = httpx.Client(base_url=f"{base}/api/v3", headers={"Authorization": f"Bearer {token}"},
                       timeout=10)
    assert httpx.get(f"{base}/api/docs").status_code == 200
    assert httpx.get(f"{base}/api/v3/extracts").status_code == 401

    created = api.post("/extracts", json={
        "data_table_title": "Server test", "template_id": 1, "accounts": [1],
        "template_settings": {"fields": ["date", "campaign_id", "clicks", "spend"]}})
    assert created.status_code == 201, created.text
    [extract] = created.json()

    today = date.today()
    window = {"date_from": str(today - timedelta(days=3)), "date_to": str(today - timedelta(1))}
    ran = api.post(f"/extracts/{extract['id']}/run", json=window)
    assert ran.status_code == 200, ran.text
    assert ran.json()["status"] == "syncing"
    [run_id] = ran.json()["run_ids"]

    # The embedded worker inside the server process carries the run out.
    deadline = time.monotonic() + 60
    runs = api.get(f"/extracts/{extract['id']}/runs").json()
    while runs[0]["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
        runs = api.get(f"/extracts/{extract['id']}/runs").json()
    assert [(r["id"], r["status"]) for r in runs] == [(run_id, "succeeded")]
    assert (runs[0]["date_from"], runs[0]["date_to"]) == (window["date_from"],
                                                          window["date_to"])
    assert runs[0]["rows"] > 0
    rows = api.get(f"/data-tables/{extract['data_table_id']}/rows").json()
    assert rows["count"] == runs[0]["rows"]
    assert api.get(f"/extracts/{extract['id']}").json()["last_sync"] is not None
