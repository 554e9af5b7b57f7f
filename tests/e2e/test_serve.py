"""One process serves the dashboard and the REST API (the README's first command)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _call(url: str, *, method: str = "GET", headers: dict[str, str] | None = None,
          body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_the_dashboard_and_the_api_answer_from_one_process(app_server: str,
                                                           tmp_path: Path) -> None:
    with urllib.request.urlopen(app_server, timeout=10) as response:
        assert response.status == 200
        assert b"<html" in response.read().lower()

    status, body = _call(f"{app_server}/api/v3/extracts")
    assert status == 401
    assert "Bearer" in body["details"]

    # A key made by the CLI against the same database works on the served API.
    created = subprocess.run(
        [sys.executable, "-m", "core.apikeys", "create", "e2e", "--shell"], cwd=ROOT,
        env={"EXTRACTS_VAR_DIR": str(tmp_path / "var"), "EXTRACTS_SECRET_KEY": "e2e-secret",
             "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, check=True).stdout
    values = dict(line.split("=", 1) for line in created.split() if "=" in line)
    basic = base64.b64encode(f"{values['KEY_ID']}:{values['SECRET']}".encode()).decode()
    status, token = _call(f"{app_server}/api/v3/token", method="POST",
                          headers={"Authorization": f"Basic {basic}"})
    assert status == 200
    status, page = _call(f"{app_server}/api/v3/extracts",
                         headers={"Authorization": f"Bearer {token['access_token']}"})
    assert (status, page["count"]) == (200, 0)

    with urllib.request.urlopen(f"{app_server}/api/docs", timeout=10) as response:
        assert response.status == 200


def test_serving_beyond_this_machine_without_sign_in_is_refused_at_start(tmp_path: Path) -> None:
    from tests import servers

    started = subprocess.run(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py",
         f"--server.port={servers.free_port()}", "--server.address=0.0.0.0",
         "--server.headless=true"],
        cwd=ROOT, env=servers.server_env(tmp_path / "var", "e2e-secret"),
        capture_output=True, text=True, timeout=120)
    assert started.returncode != 0
    assert "refusing to serve on 0.0.0.0 without sign-in" in started.stdout + started.stderr
    assert "EXTRACTS_OIDC_METADATA_URL" in started.stdout + started.stderr
