"""The README's REST API walk-through, run as written against a real server."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import servers
from tests.api.test_server import ROOT, server_env, start_server

README = (ROOT / "README.md").read_text()


def walk_through() -> str:
    section = README.split("\n## REST API\n", 1)[1].split("\n## ", 1)[0]
    blocks = section.split("```bash\n")[1:]
    assert blocks[0].startswith(".venv/bin/uvicorn api.app:app --port 8000")
    return blocks[1].split("```", 1)[0]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    env = server_env(tmp_path / "var")
    port = servers.free_port()
    process = start_server(env, port)
    yield f"http://127.0.0.1:{port}", env
    servers.stop(process)


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="needs curl, jq")
def test_the_curl_examples_work_as_written(served: tuple[str, dict[str, str]]) -> None:
    base, env = served
    script = walk_through().replace("http://localhost:8000", base).replace(
        ".venv/bin/python", sys.executable)

    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    outputs = [json.loads(part) for part in done.stdout.replace("}\n{", "}\x00{").split("\x00")]
    ran, run = outputs
    assert ran["status"] == "syncing" and len(ran["run_ids"]) == 1
    assert run["id"] == ran["run_ids"][0]
    assert (run["date_from"], run["date_to"]) == ("2026-11-01", "2026-11-10")
