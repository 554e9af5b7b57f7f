"""What an Airbyte source and a Singer tap share as datasources: the settings (package,
version, the program's own settings, date fields), secrets found by the program's spec, one
account per connection, one template per stream, and a read of one stream for a window.

A subclass says how its protocol asks (spec, check, discover, the read's arguments) and
reads its messages (records, states, logs)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa

from core.connectors import shaping
from core.connectors.base import (
    AccountSpec,
    ConnectionInfo,
    FetchRequest,
    FetchResult,
    Note,
    SourceError,
    TemplateSpec,
)
from core.connectors.programs import files, installer, process, streams
from core.errors import Problem
from core.vocabulary import LogLevel

SECRET_PREFIX = "source_config."
START_DATE_NAMES = ("start_date", "startDate", "start_datetime", "replication_start_date")
LOG_LINES = 50  # of each level a source logs, in one run's log
CALL_SECONDS = 600  # spec, check and discover: a program quiet longer than this has hung
SPEC_FILE = "spec.json"
DISCOVER_SECONDS = 600.0
_DISCOVERED: dict[str, tuple[float, list[Stream]]] = {}
_DISCOVERED_LOCK = threading.Lock()


@dataclass(frozen=True)
class Stream:
    """A stream as discover lists it."""

    name: str
    schema: Mapping[str, Any]
    cursor: str | None
    incremental: bool  # the program can resume it from a state
    raw: Mapping[str, Any]


@dataclass
class Read:
    """What one read needs: the arguments after the program, the files they name."""

    args: list[str]
    documents: dict[str, Any]


def narrowed(schema: Mapping[str, Any], columns: set[str]) -> dict[str, Any]:
    """A stream's JSON Schema with only `columns` among its top-level properties."""
    properties = schema.get("properties") or {}
    return {**schema, "properties": {n: p for n, p in properties.items() if n in columns}}


def settings_schema(example: str, kind: str) -> Mapping[str, Any]:
    """The connection settings of a program datasource."""
    return {
        "properties": {
            "package": {"type": "string", "title": "PyPI package",
                        "description": f"The {kind}'s package, e.g. {example}."},
            "version": {"type": "string", "title": "Version",
                        "description": "The package version, e.g. 6.2.1; empty: the newest "
                                       "when first installed."},
            "source_config": {"type": "object", "title": f"Settings of the {kind}",
                              "default": {},
                              "description": f"The {kind}'s own settings (its spec); those it "
                                             "marks secret are stored encrypted."},
            "date_fields": {"type": "string", "title": "Date fields",
                            "description": "Date field per stream where the cursor is not "
                                           "the one, e.g. users=created_at."},
        },
        "required": ["package"],
    }


class ProgramSource:
    """A datasource whose source is a program installed from PyPI."""

    name: str
    title: str
    kind: str  # "source" or "tap", in messages
    templates_per_connection = True
    config_schema: ClassVar[Mapping[str, Any]]

    # -- what a protocol says ------------------------------------------------------------

    def read_spec(self, config: Mapping[str, Any], progress: installer.Progress | None = None
                  ) -> dict[str, Any]:
        """The JSON Schema of the program's own settings (empty when it has none)."""
        raise NotImplementedError

    def is_secret(self, prop: Mapping[str, Any]) -> bool:
        raise NotImplementedError

    def check(self, connection: ConnectionInfo) -> str:
        raise NotImplementedError

    def streams(self, config: Mapping[str, Any]) -> list[Stream]:
        raise NotImplementedError

    def read(self, stream: Stream, incremental: bool, state: dict[str, Any] | None,
             columns: set[str]) -> Read:
        """The read's arguments and files (the config file is added by the caller);
        `columns`: the top-level properties the run needs (a source may send only those)."""
        raise NotImplementedError

    def cursor_value(self, stream: Stream, saved: Mapping[str, Any]) -> Any:
        """The cursor's value in a state this program wrote."""
        raise NotImplementedError

    def message(self, message: Mapping[str, Any], stream: str, notes: list[Note]
                ) -> tuple[str, Any] | None:
        """("record", data) or ("state", state to keep) or None; SourceError on an error
        message; log lines into `notes`, each at its level."""
        raise NotImplementedError

    # -- asked once ----------------------------------------------------------------------

    def installed_spec(self, config: Mapping[str, Any]) -> dict[str, Any] | None:
        """The settings schema of the program if it is installed and was asked for it
        already (None otherwise): neither pip nor the program is started."""
        package = str(config.get("package") or "")
        if installer.package_problem(package, config.get("version") or None):
            return None
        program = installer.installed(package, config.get("version") or None)
        kept = None if program is None else program.env_dir / SPEC_FILE
        return None if kept is None or not kept.exists() else dict(json.loads(kept.read_text()))

    def spec(self, config: Mapping[str, Any], progress: installer.Progress | None = None
             ) -> dict[str, Any]:
        """The program's settings schema, installing it first if needed; asked once per
        installed version (each start of a program costs seconds) and kept beside it."""
        program = installer.ensure(str(config["package"]), config.get("version") or None,
                                   progress)
        kept = program.env_dir / SPEC_FILE
        if kept.exists():
            return dict(json.loads(kept.read_text()))
        spec = self.read_spec(config, progress)
        partial = kept.with_suffix(".partial")
        partial.write_text(json.dumps(spec))
        partial.replace(kept)
        return spec

    def discovered(self, config: Mapping[str, Any]) -> list[Stream]:
        """The streams, discovered again only when the last discover of these settings is
        older than DISCOVER_SECONDS (a refresh of the templates always discovers)."""
        key = _discover_key(config)
        with _DISCOVERED_LOCK:
            hit = _DISCOVERED.get(key)
        if hit is not None and time.monotonic() - hit[0] < DISCOVER_SECONDS:
            return hit[1]
        found = self.streams(config)
        with _DISCOVERED_LOCK:
            _DISCOVERED[key] = (time.monotonic(), found)
        return found

    # -- settings ------------------------------------------------------------------------

    def validate_config(self, config: Mapping[str, Any]) -> list[Problem]:
        """The package name, the program's settings as an object, the date fields; then the
        program installed and its settings checked against its spec."""
        problems = []
        problem = installer.package_problem(str(config["package"]),
                                            config.get("version") or None)
        if problem:
            problems.append(Problem("config.package", problem))
        if not isinstance(config.get("source_config", {}), dict):
            problems.append(Problem("config.source_config", f"must be an object of the "
                                    f"{self.kind}'s settings, e.g. {{\"count\": 100}}"))
        try:
            streams.date_overrides(str(config.get("date_fields") or ""))
        except ValueError as exc:
            problems.append(Problem("config.date_fields", str(exc)))
        if problems:
            return problems
        try:
            spec = self.spec(config)
        except SourceError as exc:
            return [Problem("config.package", str(exc))]
        return spec_problems(spec, joined(config), self.kind)

    def split_secrets(self, config: Mapping[str, Any]) -> tuple[dict[str, Any],
                                                                dict[str, str]]:
        """The settings without the program's secret values, and those values by
        `source_config.<path>` (to be stored encrypted)."""
        plain = dict(config)
        source_config = json.loads(json.dumps(config.get("source_config") or {}))
        secrets: dict[str, str] = {}
        for path in self._secret_paths(self.spec(config)):
            holder: Any = source_config
            for step in path[:-1]:
                holder = holder.get(step) if isinstance(holder, dict) else None
            if isinstance(holder, dict) and holder.get(path[-1]) not in (None, ""):
                secrets[SECRET_PREFIX + ".".join(path)] = str(holder.pop(path[-1]))
        plain["source_config"] = source_config
        return plain, secrets

    def join_secrets(self, config: Mapping[str, Any], secrets: Mapping[str, str]
                     ) -> dict[str, Any]:
        """The settings with the stored secrets put back into the program's settings where
        they give none (an edit that leaves a secret empty keeps it)."""
        return {**config, "source_config": joined({**config, **secrets})}

    def _secret_paths(self, spec: Mapping[str, Any], prefix: tuple[str, ...] = ()
                      ) -> list[tuple[str, ...]]:
        out = []
        for name, prop in (spec.get("properties") or {}).items():
            if self.is_secret(prop):
                out.append((*prefix, name))
            elif prop.get("properties"):
                out += self._secret_paths(prop, (*prefix, name))
        return out

    # -- the connector protocol ----------------------------------------------------------

    def discover_accounts(self, connection: ConnectionInfo) -> list[AccountSpec]:
        config = connection.config
        program = installer.ensure(str(config["package"]), config.get("version") or None)
        return [AccountSpec(program.package, f"{program.package} {program.version}")]

    def templates(self, connection: ConnectionInfo) -> list[TemplateSpec]:
        config = connection.config
        overrides = streams.date_overrides(str(config.get("date_fields") or ""))
        found = self.streams(config)
        with _DISCOVERED_LOCK:
            _DISCOVERED[_discover_key(config)] = (time.monotonic(), found)
        names = [s.name for s in found]
        unknown = sorted(set(overrides) - set(names))
        if unknown:
            raise SourceError(f"date_fields names stream(s) {', '.join(unknown)}; the "
                              f"{self.kind}'s streams: {', '.join(names)}")
        return [streams.template(s.name, s.schema, s.cursor, str(config["package"]),
                                 overrides.get(s.name)) for s in found]

    def live_template(self, connection: ConnectionInfo, name: str) -> bool:
        """A discover per run would cost seconds; refresh re-discovers, and each run's
        values are checked against their fields as they are converted."""
        return False

    def fetch(self, request: FetchRequest) -> FetchResult:
        result = FetchResult(chunks=iter(()))
        result.chunks = self._chunks(request, result)
        return result

    def _chunks(self, request: FetchRequest, result: FetchResult) -> Iterator[pa.Table]:
        notes = result.notes
        config = request.connection.config
        name = request.template.name
        found = [s for s in self.discovered(config) if s.name == name]
        if not found:
            raise SourceError(f"the {self.kind} no longer has stream {name}; refresh the "
                              "connection's templates")
        stream = found[0]
        source_config = joined(config)
        types = streams.column_types(stream.schema)
        date_field = request.template.date_field
        day = request.date_from
        cursor = stream.cursor
        # The source's start date and state speak of its cursor: they carry the window only
        # when the cursor is the template's date field (or the timestamp it is the day of).
        windowed = (day is not None and cursor is not None
                    and types.get(cursor) in ("date", "datetime")
                    and date_field in (cursor, shaping.derived_date_name(cursor)))
        if windowed and day is not None:
            spec = self.spec(config)
            start = next((n for n in START_DATE_NAMES if n in (spec.get("properties") or {})),
                         None)
            if start and start not in source_config:
                kind = spec["properties"][start].get("format")
                source_config[start] = (f"{day.isoformat()}T00:00:00Z" if kind == "date-time"
                                        else day.isoformat())
        incremental = windowed and stream.incremental
        state = None
        saved = request.state
        if incremental and day is not None and isinstance(saved, dict):
            state = streams.resume_state(saved, self.cursor_value(stream, saved), day)
        wanted = streams.wanted_fields(request)
        read = self.read(stream, incremental, state,
                         {f.name.split(".")[0] for f in wanted} | {cursor or ""} - {""})
        last_state: Any = None
        records = 0

        def rows() -> Iterator[dict[str, Any] | None]:
            nonlocal last_state, records
            for message in self.messages(config, read.args, config_doc=source_config,
                                         documents=read.documents, notes=notes):
                said = None if message is None else self.message(message, name, notes)
                if message is None:
                    yield None
                elif said is not None and said[0] == "record":
                    records += 1
                    yield said[1]
                elif said is not None and said[0] == "state":
                    last_state = said[1] if said[1] is not None else last_state

        yield from streams.tables(rows(), wanted, date_field)
        notes.append((LogLevel.INFO, f"the {self.kind} sent {records} record(s) of {name} ("
                      + ("incremental from its saved state" if state is not None
                         else "incremental from the beginning" if incremental
                         else "full refresh")
                      + ")"))
        if last_state is not None and incremental:
            result.state = last_state  # kept with the window's rows, sent back next time

    # -- running the program -------------------------------------------------------------

    def call(self, config: Mapping[str, Any], args: list[str], *,
             with_config: bool = True, progress: installer.Progress | None = None
             ) -> Iterator[dict[str, Any]]:
        """The JSON messages of a spec, check or discover."""
        for line in self.call_lines(config, args, with_config=with_config,
                                    progress=progress):
            message = _parsed(line)
            if message is not None:
                yield message

    def call_lines(self, config: Mapping[str, Any], args: list[str], *,
                   with_config: bool = True, progress: installer.Progress | None = None
                   ) -> Iterator[str]:
        """The output lines of a spec, check or discover; SourceError when the program is
        quiet for CALL_SECONDS."""
        quiet = 0.0
        for line in self.lines(config, args, config_doc=joined(config) if with_config
                               else None, progress=progress):
            if line is None:
                quiet += process.IDLE_SECONDS
                if quiet > CALL_SECONDS:
                    raise SourceError(f"{config['package']} {_verb(args)} said nothing for "
                                      f"{CALL_SECONDS} s; it was stopped")
                continue
            quiet = 0.0
            yield line

    def messages(self, config: Mapping[str, Any], args: list[str], *,
                 config_doc: Mapping[str, Any] | None,
                 documents: Mapping[str, Any] | None = None,
                 notes: list[Note] | None = None) -> Iterator[dict[str, Any] | None]:
        """The program's JSON messages, None on a quiet tick; the warnings and errors it
        logged on its error output into `notes` once it ended well."""
        for line in self.lines(config, args, config_doc=config_doc, documents=documents,
                               notes=notes):
            if line is None:
                yield None
            elif (message := _parsed(line)) is not None:
                yield message

    def lines(self, config: Mapping[str, Any], args: list[str], *,
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
                    raise SourceError(running.failure(f"{program.package} {_verb(args)}"))
                if notes is not None:
                    running.error_output_read()
                    for word, text in running.flagged:
                        add_note(notes, LogLevel.WARNING if word.startswith("WARN")
                                 else LogLevel.ERROR, text)
            finally:
                running.kill()  # stopped early (cancel, timeout, an error): the whole group


def _verb(args: list[str]) -> str:
    """What a call does, in a word: spec, check, discover (also Singer's --discover), about,
    read."""
    plain = [a for a in args if not a.startswith(("-", "{"))]
    if plain:
        return plain[0]
    flags = [a.lstrip("-") for a in args if a in ("--discover", "--about")]
    return flags[0] if flags else "read"


def _parsed(line: str) -> dict[str, Any] | None:
    """A protocol message, or None for a stray print of the program."""
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


def _discover_key(config: Mapping[str, Any]) -> str:
    return json.dumps([config.get("package"), config.get("version"), joined(config)],
                      sort_keys=True, default=str)


def add_note(notes: list[Note], level: LogLevel, text: str) -> None:
    """A line the source logged, for the run's log: LOG_LINES of each level at most."""
    if sum(seen == level for seen, _ in notes) < LOG_LINES:
        notes.append((level, f"source: {text[:500]}"))


def joined(config: Mapping[str, Any]) -> dict[str, Any]:
    """The program's settings with its secrets put back where they belong."""
    source_config = json.loads(json.dumps(config.get("source_config") or {}))
    for key, value in config.items():
        if not key.startswith(SECRET_PREFIX):
            continue
        path = key[len(SECRET_PREFIX):].split(".")
        holder = source_config
        for step in path[:-1]:
            holder = holder.setdefault(step, {})
        if holder.get(path[-1]) in (None, ""):  # a value given anew wins
            holder[path[-1]] = value
    return dict(source_config)


def spec_problems(spec: Mapping[str, Any], source_config: Mapping[str, Any], kind: str
                  ) -> list[Problem]:
    """The program's settings against its spec: required ones present, top-level types."""
    problems = []
    properties = spec.get("properties") or {}
    for name in spec.get("required") or []:
        if source_config.get(name) in (None, ""):
            title = properties.get(name, {}).get("title") or name
            problems.append(Problem(f"config.source_config.{name}",
                                    f"is required by the {kind} ({title})"))
    checks = {"integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
              "boolean": lambda v: isinstance(v, bool), "string": lambda v: isinstance(v, str)}
    for name, value in source_config.items():
        kinds = (properties.get(name) or {}).get("type")
        kinds = [kinds] if isinstance(kinds, str) else [k for k in kinds or [] if k != "null"]
        check = checks.get(kinds[0]) if len(kinds) == 1 else None
        if check is not None and value is not None and not check(value):
            problems.append(Problem(f"config.source_config.{name}",
                                    f"must be a {kinds[0]}, not {value!r}"))
    return problems
