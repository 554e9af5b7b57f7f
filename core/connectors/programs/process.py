"""A source program as a subprocess: its standard output read line by line, with a tick
when it says nothing for a while (so the run can check for cancel and timeout), and the
whole process group killed when the reader stops early (cancel, timeout, an error).
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from core.connectors.base import SourceError

IDLE_SECONDS = 1.0
BLOCK_BYTES = 1 << 16
QUEUED_BLOCKS = 64  # a slow reader holds the source back, not memory
STDERR_LINES = 20
FLAGGED_LINES = 100  # warnings and errors a program logs on its error output, kept in order
# A log line's level, near its start, in the forms Python's logging and singer-sdk write:
# "WARNING:tap:...", "2026-12-05 07:00:00 | ERROR | tap-x | ...", "CRITICAL ...".
_LEVEL = re.compile(r"(?<![A-Za-z])(CRITICAL|FATAL|ERROR|WARNING|WARN)(?![A-Za-z])")
KILL_GRACE = 3.0


class Program:
    """One execution of a source program; iterate `lines()`, then read `exit_code`.

    Leaving the iteration early (a break, an exception, the generator closed) ends the
    program: SIGTERM to its process group, SIGKILL after KILL_GRACE seconds.
    """

    def __init__(self, argv: Sequence[str], *, cwd: Path | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self.argv = list(argv)
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_LINES)
        # (level word, line) of each warning or error on its error output, the first ones.
        self.flagged: list[tuple[str, str]] = []
        self.exit_code: int | None = None
        self._blocks: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUED_BLOCKS)
        try:
            self._process = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, cwd=cwd, env=dict(env) if env is not None else None,
                start_new_session=True)
        except OSError as exc:
            raise SourceError(f"cannot start {self.argv[0]}: {exc}") from None
        threading.Thread(target=self._pump, daemon=True, name="source-stdout").start()
        self._stderr_reader = threading.Thread(target=self._drain_stderr, daemon=True,
                                               name="source-stderr")
        self._stderr_reader.start()

    def _pump(self) -> None:
        stdout = self._process.stdout
        assert stdout is not None
        fd = stdout.fileno()
        try:
            while block := os.read(fd, BLOCK_BYTES):
                self._blocks.put(block)
        finally:
            stdout.close()
            self._blocks.put(None)

    def _drain_stderr(self) -> None:
        stderr = self._process.stderr
        assert stderr is not None
        for raw in stderr:
            text = raw.decode(errors="replace").rstrip()
            if text:
                self.stderr_tail.append(text)
                level = _LEVEL.search(text[:64])
                if level is not None and len(self.flagged) < FLAGGED_LINES:
                    self.flagged.append((level.group(1), text))

    def lines(self, idle: float = IDLE_SECONDS) -> Iterator[bytes | None]:
        """Each line of its output (without the newline); None after `idle` seconds of
        silence. Ends when the program closes its output and exits."""
        rest = b""
        finished = False
        try:
            while True:
                try:
                    block = self._blocks.get(timeout=idle)
                except queue.Empty:
                    yield None
                    continue
                if block is None:
                    break
                parts = (rest + block).split(b"\n")
                rest = parts.pop()
                for part in parts:
                    if part.strip():
                        yield part
            if rest.strip():
                yield rest
            while self.exit_code is None:
                try:
                    self.exit_code = self._process.wait(timeout=idle)
                except subprocess.TimeoutExpired:
                    yield None  # output closed, not exited yet: still cancellable
            finished = True
        finally:
            if not finished:
                self.kill()

    def kill(self) -> None:
        """End the program and everything it started (its process group), and let the
        reader thread finish."""
        if self._process.poll() is None:
            for sig, wait in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, None)):
                try:
                    os.killpg(self._process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self._process.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self.exit_code = self._process.returncode
        # Output nobody will read: a reader blocked on a full queue could never end.
        while True:
            try:
                self._blocks.get_nowait()
            except queue.Empty:
                break

    def error_output_read(self) -> None:
        """Wait until its error output is read to the end (after it exited)."""
        self._stderr_reader.join(timeout=KILL_GRACE)

    def failure(self, what: str) -> str:
        """A message for a non-zero exit: what failed, the code, its last error lines."""
        self.error_output_read()
        said = " | ".join(self.stderr_tail)
        return (f"{what} exited with status {self.exit_code}"
                + (f": {said}" if said else " and wrote nothing on its error output"))
