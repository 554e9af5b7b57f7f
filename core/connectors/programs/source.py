"""What an Airbyte source and a Singer tap share as datasources: the program's spec, kept
beside it, and its secrets kept apart; one account per connection, one template per stream,
and a read of one stream for a window. (settings.py holds the connection's settings and their
checks, running.py runs the program.)

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
from core.connectors.programs import installer, running, streams
from core.connectors.programs.settings import (
    SECRET_PREFIX,
    joined,
    secret_paths,
    spec_problems,
)
from core.errors import Problem
from core.vocabulary import LogLevel

START_DATE_NAMES = ("start_date", "startDate", "start_datetime", "replication_start_date")
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
        return None if program is None else _kept_spec(program)

    def spec(self, config: Mapping[str, Any], progress: installer.Progress | None = None
             ) -> dict[str, Any]:
        """The program's settings schema, installing it first if needed; asked once per
        installed version (each start of a program costs seconds) and kept beside it."""
        program = installer.ensure(str(config["package"]), config.get("version") or None,
                                   progress)
        kept = _kept_spec(program)
        if kept is not None:
            return kept
        spec = self.read_spec(config, progress)
        partial = (program.env_dir / SPEC_FILE).with_suffix(".partial")
        partial.write_text(json.dumps(spec))
        partial.replace(program.env_dir / SPEC_FILE)
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
        for path in secret_paths(self.spec(config), self.is_secret):
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
            for message in running.messages(config, read.args, config_doc=source_config,
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


def _kept_spec(program: installer.Program) -> dict[str, Any] | None:
    """The spec kept beside an installed program, if it was asked for once."""
    kept = program.env_dir / SPEC_FILE
    return dict(json.loads(kept.read_text())) if kept.exists() else None


def _discover_key(config: Mapping[str, Any]) -> str:
    return json.dumps([config.get("package"), config.get("version"), joined(config)],
                      sort_keys=True, default=str)
