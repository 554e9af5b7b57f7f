"""The two commands of the README: `python3 dev.py run` and `python3 dev.py test`.

Each one sets itself up on a fresh machine with nothing but Python 3.11+: it creates the
virtual environment `.venv/` and installs the requirements, again only when a requirements
file changed since the last install.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def _digest(requirements: Path) -> str:
    text = requirements.read_text()
    for line in text.splitlines():
        if line.startswith("-r "):
            text += (requirements.parent / line[3:].strip()).read_text()
    return hashlib.sha256(text.encode()).hexdigest()


def ensure_environment(requirements: str) -> None:
    """Create .venv and install `requirements` unless the same set is installed already."""
    if sys.version_info < (3, 11):
        sys.exit(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        print(f"Creating the virtual environment in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    path = ROOT / requirements
    stamp = VENV / f".installed-{path.stem}"
    digest = _digest(path)
    if stamp.exists() and stamp.read_text() == digest:
        return
    print(f"Installing {requirements} ...", flush=True)
    pip = [str(PYTHON), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "install", "-r", str(path)], check=True)
    stamp.write_text(digest)


def run(args: list[str]) -> int:
    """Serve the dashboard at / and the REST API at /api with the embedded defaults
    (SQLite under ./var/, the demo source, the worker in-process)."""
    ensure_environment("requirements.txt")
    command = [str(PYTHON), "-m", "streamlit", "run", "streamlit_app.py",
               "--server.headless=true", "--browser.gatherUsageStats=false", *args]
    return subprocess.call(command, cwd=ROOT)


def test(args: list[str]) -> int:
    """Lint, type-check and run the whole test suite."""
    ensure_environment("requirements-dev.txt")
    steps = [
        [str(PYTHON), "-m", "ruff", "check", "."],
        [str(PYTHON), "-m", "mypy"],
        [str(PYTHON), "-m", "pytest", *args],
    ]
    for step in steps:
        print("$", " ".join(step[2:]), flush=True)
        code = subprocess.call(step, cwd=ROOT)
        if code != 0:
            return code
    return 0


def main() -> int:
    commands = {"run": run, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(f"usage: python3 dev.py {{{'|'.join(commands)}}} [extra arguments]")
        return 2
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
