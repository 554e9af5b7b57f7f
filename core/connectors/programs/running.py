"""Running a source program: its output lines (the settings and documents handed over as
files), the JSON messages among them, and the lines it logs, as notes for the run's log."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from core.connectors.base import Note, SourceError
from core.connectors.programs import files, installer, process
from core.connectors.programs.settings import joined
from core.vocabulary import LogLevel

LOG_LINES = 50  # of each level a source logs, in one run's log
CALL_SECONDS = 600  # spec, check and discover: a program quiet longer than this has hung


def call(config: Mapping[str, Any], args: list[str], *, with_config: bool = True,
         progress: installer.Progress | None = None) -> Iterator[dict[str, Any]]:
    """The JSON messages of a spec, check or discover."""
    for line in call_lines(config, args, with_config=with_config, progress=progress):
        message = parsed(line)
        if message is not None:
            yield message


def call_lines(config: Mapping[str, Any], args: list[str], *,
               with_config: bool = True, progress: installer.Progress | None = None
               ) -> Iterator[str]:
    """The output lines of a spec, check or discover; SourceError when the program is
    quiet for CALL_SECONDS."""
    quiet = 0.0
    for line in lines(config, args, config_doc=joined(config) if with_config else None,
                      progress=progress):
        if line is None:
            quiet += process.IDLE_SECONDS
            if quiet > CALL_SECONDS:
                raise SourceError(f"{config['package']} {verb(args)} said nothing for "
                                  f"{CALL_SECONDS} s; it was stopped")
            continue
        quiet = 0.0
        yield line


def messages(config: Mapping[str, Any], args: list[str], *,
             config_doc: Mapping[str, Any] | None,
             documents: Mapping[str, Any] | None = None,
             notes: list[Note] | None = None) -> Iterator[dict[str, Any] | None]:
    """The program's JSON messages, None on a quiet tick; the warnings and errors it
    logged on its error output into `notes` once it ended well."""
    for line in lines(config, args, config_doc=config_doc, documents=documents, notes=notes):
        if line is None:
            yield None
        elif (message := parsed(line)) is not None:
            yield message


def lines(config: Mapping[str, Any], args: list[str], *,
          config_doc: Mapping[str, Any] | None,
          documents: Mapping[str, Any] | None = None,
          progress: installer.Progress | None = None,
          notes: list[Note] | None = None) -> Iterator[str | None]:
    """The program's output lines (None on a quiet tick); a non-zero exit as SourceError
    with its last error lines, else its logged warnings and errors into `notes`.
    `{name}` in `args` is the path of that document's file."""
    program = installer.ensure(str(config["package"]), config.get("version") or None,
                               progress)
    with files.handed(config=config_doc, **(documents or {})) as paths:
        argv = [str(program.executable),
                *(str(paths[a[1:-1]]) if a.startswith("{") else a for a in args)]
        running = process.Program(argv, cwd=program.env_dir)
        try:
            for line in running.lines():
                yield None if line is None else line.decode(errors="replace")
            if running.exit_code:
                raise SourceError(running.failure(f"{program.package} {verb(args)}"))
            if notes is not None:
                running.error_output_read()
                for word, text in running.flagged:
                    add_note(notes, LogLevel.WARNING if word.startswith("WARN")
                             else LogLevel.ERROR, text)
        finally:
            running.kill()  # stopped early (cancel, timeout, an error): the whole group


def verb(args: list[str]) -> str:
    """What a call does, in a word: spec, check, discover (also Singer's --discover), about,
    read."""
    plain = [a for a in args if not a.startswith(("-", "{"))]
    if plain:
        return plain[0]
    flags = [a.lstrip("-") for a in args if a in ("--discover", "--about")]
    return flags[0] if flags else "read"


def parsed(line: str) -> dict[str, Any] | None:
    """A protocol message, or None for a stray print of the program."""
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


def add_note(notes: list[Note], level: LogLevel, text: str) -> None:
    """A line the source logged, for the run's log: LOG_LINES of each level at most."""
    if sum(seen == level for seen, _ in notes) < LOG_LINES:
        notes.append((level, f"source: {text[:500]}"))
