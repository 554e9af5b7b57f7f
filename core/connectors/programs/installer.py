"""Source programs installed from PyPI, each into a virtual environment of its own under the
sources folder (one per package and version, reused), never into the product's environment.

`ensure` installs once and returns the installed program; two runs asking at once take turns
on a file lock, so a half-made environment is never used. A failed install leaves nothing
behind and raises SourceError with pip's own last lines.
"""

from __future__ import annotations

import fcntl
import json
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.connectors.base import SourceError

# PEP 508 names and plain versions: anything else could smuggle pip options or URLs in.
PACKAGE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$")
VERSION = re.compile(r"^[0-9][0-9A-Za-z.+!-]{0,40}$")
MARKER = "installed.json"
PIP_TAIL_LINES = 12
INSTALL_TIMEOUT = 1800

_root: Path | None = None
_root_lock = threading.Lock()

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Program:
    """An installed source: its environment, the version pip chose, and its command."""

    package: str
    version: str
    env_dir: Path
    command: str

    @property
    def executable(self) -> Path:
        return self.env_dir / "bin" / self.command


def configure(root: Path) -> None:
    """Where environments go (the product calls this when it opens its database)."""
    global _root
    with _root_lock:
        _root = Path(root)


def root() -> Path:
    """The sources folder; ./var/sources when the product has not said."""
    return _root if _root is not None else Path("var") / "sources"


def package_problem(package: str, version: str | None) -> str | None:
    """Why `package` (and `version`) cannot be installed as given, or None."""
    if not PACKAGE.match(package):
        return (f"{package!r} is not a PyPI package name; write one like "
                "airbyte-source-faker or tap-jsonl")
    if version and not VERSION.match(version):
        return f"{version!r} is not a version; write one like 6.2.1, or leave it empty"
    return None


def env_dir(package: str, version: str | None) -> Path:
    """The environment of one package and version (`latest`: the newest at first install)."""
    return root() / f"{package.lower()}-{version or 'latest'}"


def installed(package: str, version: str | None) -> Program | None:
    """The program if it is installed already."""
    marker = env_dir(package, version) / MARKER
    if not marker.exists():
        return None
    facts = json.loads(marker.read_text())
    return Program(package=package, version=facts["version"],
                   env_dir=marker.parent, command=facts["command"])


def ensure(package: str, version: str | None, progress: Progress | None = None) -> Program:
    """The installed program, installing it first if needed; SourceError with pip's words
    when the install fails."""
    problem = package_problem(package, version)
    if problem:
        raise SourceError(problem)
    found = installed(package, version)
    if found is not None:
        return found
    target = env_dir(package, version)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target.parent / f".{target.name}.lock"):
        found = installed(package, version)  # another process finished it meanwhile
        if found is not None:
            return found
        shutil.rmtree(target, ignore_errors=True)  # a crashed install's leftovers
        try:
            return _install(package, version, target, progress or (lambda line: None))
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _install(package: str, version: str | None, target: Path, progress: Progress) -> Program:
    spec = f"{package}=={version}" if version else package
    progress(f"creating the environment for {spec}")
    _run([sys.executable, "-m", "venv", str(target)], f"creating an environment for {spec}",
         progress)
    progress(f"installing {spec} with pip")
    _run([str(target / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
          "--no-input", "--progress-bar", "off", spec], f"pip could not install {spec}",
         progress)
    facts = _facts(target, package)
    (target / MARKER).write_text(json.dumps(facts))
    progress(f"installed {package} {facts['version']} ({facts['command']})")
    return Program(package=package, version=facts["version"], env_dir=target,
                   command=facts["command"])


def _run(argv: list[str], failure: str, progress: Progress) -> None:
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    assert process.stdout is not None
    tail: list[str] = []
    with process:
        for raw in process.stdout:
            line = raw.rstrip()
            # pip's notes about extra indexes that are absent say nothing about this install.
            if not line or line.startswith("WARNING: Location"):
                continue
            tail = [*tail[-(PIP_TAIL_LINES - 1):], line]
            progress(line)
        code = process.wait(timeout=INSTALL_TIMEOUT)
    if code != 0:
        said = " | ".join(tail) or f"exit status {code}"
        raise SourceError(f"{failure}: {said}")


_FACTS = """
import json, sys
from importlib import metadata
dist = metadata.distribution(sys.argv[1])
print(json.dumps({"version": dist.version,
                  "scripts": [e.name for e in dist.entry_points if e.group == "console_scripts"]}))
"""


def _facts(target: Path, package: str) -> dict[str, str]:
    """The version pip installed and the package's command (its console script)."""
    out = subprocess.run([str(target / "bin" / "python"), "-c", _FACTS, package],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SourceError(f"{package} installed, but its metadata cannot be read: "
                          f"{out.stderr.strip()[-500:]}")
    facts = json.loads(out.stdout)
    scripts: list[str] = facts["scripts"]
    if not scripts:
        raise SourceError(f"{package} installed, but it has no command to run (no console "
                          "script): it is not an Airbyte source or a Singer tap")
    # A package may ship helpers beside its program; the program is named like the package.
    short = package.lower().removeprefix("airbyte-")
    command = next((s for s in scripts if s.lower() in (package.lower(), short)), scripts[0])
    return {"version": facts["version"], "command": command}
