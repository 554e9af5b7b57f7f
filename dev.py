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


def _install_faketime_compat() -> None:
    """Make every Python of .venv import devtools/faketime_compat.py at start-up, so the
    suite runs under Debian's faketime (see that module); it does nothing otherwise."""
    [site_packages] = VENV.glob("lib/python3*/site-packages") or VENV.glob("Lib/site-packages")
    pth = site_packages / "extracts-faketime-compat.pth"
    wanted = f"{ROOT / 'devtools'}\nimport faketime_compat\n"
    if not pth.exists() or pth.read_text() != wanted:
        pth.write_text(wanted)


def ensure_environment(requirements: str) -> None:
    """Create .venv and install `requirements` unless the same set is installed already."""
    if sys.version_info < (3, 11):
        sys.exit(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}")
    if "faketime" in os.environ.get("LD_PRELOAD", ""):
        os.environ["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"  # for every child; see devtools/
    if not PYTHON.exists():
        print(f"Creating the virtual environment in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    _install_faketime_compat()
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
    address = os.environ.get("EXTRACTS_LISTEN_ADDRESS") or "127.0.0.1"
    command = [str(PYTHON), "-m", "streamlit", "run", "streamlit_app.py",
               f"--server.address={address}", "--server.headless=true",
               "--browser.gatherUsageStats=false", *args]
    # Streamlit imports Arrow before the app imports core, which picks this (see there).
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    return subprocess.call(command, cwd=ROOT)


def test(args: list[str]) -> int:
    """Lint, type-check, check the import contracts and run the whole test suite."""
    ensure_environment("requirements-dev.txt")
    steps = [
        ["ruff", "check", "."],
        ["mypy"],
        ["lint-imports", "--no-cache"],  # the import contracts in pyproject.toml
        ["pytest", *args],
    ]
    for step in steps:
        print("$", " ".join(step), flush=True)
        # Modules run with `python -m` (the project on sys.path); lint-imports has no __main__.
        command = [str(BIN / step[0])] if step[0] == "lint-imports" else \
            [str(PYTHON), "-m", step[0]]
        code = subprocess.call([*command, *step[1:]], cwd=ROOT)
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
