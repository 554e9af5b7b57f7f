"""The `airbyte` connector: a PyPI package that is an Airbyte source, installed into its own
environment, its `spec` the settings, `check` the connection test, `discover` one template
per stream, `read` the rows of one stream for a window."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import pyarrow as pa

from core.connectors import shaping
from core.connectors.base import (
    AccountSpec,
    ConnectionInfo,
    FetchRequest,
    FetchResult,
    SourceError,
    TemplateSpec,
)
from core.connectors.programs import files, installer, process, streams
from core.errors import Problem

SECRET_PREFIX = "source_config."
START_DATE_NAMES = ("start_date", "startDate", "start_datetime", "replication_start_date")
LOG_LINES = 50
CALL_SECONDS = 600  # spec, check and discover: a source quiet longer than this has hung


class Airbyte:
    """Any Airbyte source published on PyPI (airbyte-source-*)."""

    name = "airbyte"
    title = "Airbyte source (PyPI)"
    templates_per_connection = True
    config_schema: ClassVar[Mapping[str, Any]] = {
        "properties": {
            "package": {"type": "string", "title": "PyPI package",
                        "description": "The source's package, e.g. airbyte-source-faker."},
            "version": {"type": "string", "title": "Version",
                        "description": "The package version, e.g. 6.2.1; empty: the newest "
                                       "when first installed."},
            "source_config": {"type": "object", "title": "Source settings", "default": {},
                              "description": "The source's own settings (its spec); its "
                                             "airbyte_secret values are stored encrypted."},
            "date_fields": {"type": "string", "title": "Date fields",
                            "description": "Date field per stream where the cursor is not "
                                           "the one, e.g. users=created_at."},
        },
        "required": ["package"],
    }

    # -- settings ------------------------------------------------------------------------

    def validate_config(self, config: Mapping[str, Any]) -> list[Problem]:
        """The package name, the source's settings as an object, the date fields; then the
        source installed and its settings checked against its spec."""
        problems = []
        problem = installer.package_problem(str(config["package"]),
                                            config.get("version") or None)
        if problem:
            problems.append(Problem("config.package", problem))
        if not isinstance(config.get("source_config", {}), dict):
            problems.append(Problem("config.source_config", "must be an object of the "
                                    "source's settings, e.g. {\"count\": 100}"))
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
        return _spec_problems(spec, _joined(config))

    def split_secrets(self, config: Mapping[str, Any]) -> tuple[dict[str, Any],
                                                                dict[str, str]]:
        """The settings without the source's airbyte_secret values, and those values by
        `source_config.<path>` (to be stored encrypted)."""
        plain = dict(config)
        source_config = json.loads(json.dumps(config.get("source_config") or {}))
        secrets: dict[str, str] = {}
        for path in _secret_paths(self.spec(config)):
            holder: Any = source_config
            for step in path[:-1]:
                holder = holder.get(step) if isinstance(holder, dict) else None
            if isinstance(holder, dict) and holder.get(path[-1]) not in (None, ""):
                secrets[SECRET_PREFIX + ".".join(path)] = str(holder.pop(path[-1]))
        plain["source_config"] = source_config
        return plain, secrets

    def join_secrets(self, config: Mapping[str, Any], secrets: Mapping[str, str]
                     ) -> dict[str, Any]:
        """The settings with the stored secrets put back into the source's settings where
        they give none (an edit that leaves a secret empty keeps it)."""
        return {**config, "source_config": _joined({**config, **secrets})}

    def spec(self, config: Mapping[str, Any], progress: installer.Progress | None = None
             ) -> dict[str, Any]:
        """The source's connection specification (installing it first if needed)."""
        message = self._call(config, "spec", "SPEC", progress=progress)
        return dict(message["spec"].get("connectionSpecification") or {})

    # -- protocol ------------------------------------------------------------------------

    def check(self, connection: ConnectionInfo) -> str:
        status = self._call(connection.config, "check", "CONNECTION_STATUS")["connectionStatus"]
        if status.get("status") != "SUCCEEDED":
            raise SourceError(f"{connection.config['package']} check failed: "
                              f"{status.get('message') or status.get('status')}")
        return f"{connection.config['package']}: connection check succeeded"

    def discover_accounts(self, connection: ConnectionInfo) -> list[AccountSpec]:
        config = connection.config
        program = installer.ensure(str(config["package"]), config.get("version") or None)
        return [AccountSpec(program.package, f"{program.package} {program.version}")]

    def templates(self, connection: ConnectionInfo) -> list[TemplateSpec]:
        config = connection.config
        overrides = streams.date_overrides(str(config.get("date_fields") or ""))
        catalog = self._call(config, "discover", "CATALOG")["catalog"]
        names = [s["name"] for s in catalog.get("streams", [])]
        unknown = sorted(set(overrides) - set(names))
        if unknown:
            raise SourceError(f"date_fields names stream(s) {', '.join(unknown)}; the "
                              f"source's streams: {', '.join(names)}")
        return [streams.template(s["name"], s.get("json_schema") or {}, _cursor(s),
                                 str(config["package"]), overrides.get(s["name"]))
                for s in catalog.get("streams", [])]

    def live_template(self, connection: ConnectionInfo, name: str) -> bool:
        """A discover per run would cost seconds; refresh re-discovers, and each run's
        values are checked against their fields as they are converted."""
        return False

    def fetch(self, request: FetchRequest) -> FetchResult:
        result = FetchResult(chunks=iter(()), notes=[])
        result.chunks = self._chunks(request, result.notes)
        return result

    def _chunks(self, request: FetchRequest, notes: list[str]) -> Iterator[pa.Table]:
        config = request.connection.config
        stream_name = request.template.name
        catalog = self._call(config, "discover", "CATALOG")["catalog"]
        found = [s for s in catalog.get("streams", []) if s["name"] == stream_name]
        if not found:
            raise SourceError(f"the source no longer has stream {stream_name}; refresh the "
                              "connection's templates")
        stream = found[0]
        fields = streams.wanted_fields(request)
        source_config = _joined(config)
        spec = self.spec(config)
        cursor = _cursor(stream)
        types = streams.column_types(stream.get("json_schema") or {})
        windowed = request.date_from is not None and request.template.date_field is not None
        if windowed and request.date_from is not None:
            start = _start_date_name(spec)
            if start and start not in source_config:
                kind = spec.get("properties", {}).get(start, {}).get("format")
                source_config[start] = (streams.window_start("datetime", request.date_from)
                                        .replace("+00:00", "Z")
                                        if kind == "date-time" else request.date_from.isoformat())
        # A state says "from this cursor value on": a window only when the cursor is the
        # template's date field (or the timestamp it is the day of).
        date_field = request.template.date_field
        incremental = (windowed and cursor is not None
                       and "incremental" in stream.get("supported_sync_modes", [])
                       and types.get(cursor) in ("date", "datetime")
                       and date_field in (cursor, shaping.derived_date_name(cursor)))
        account = request.account.external_id
        state = None
        if incremental and cursor is not None and request.date_from is not None:
            saved = files.saved_state(request.connection.id, account, stream_name)
            state = [{"type": "STREAM", "stream": {
                "stream_descriptor": {"name": stream_name},
                "stream_state": streams.resume_state(saved, cursor, types[cursor],
                                                     request.date_from)}}]
        configured = {"streams": [{
            "stream": stream, "sync_mode": "incremental" if incremental else "full_refresh",
            "destination_sync_mode": "append",
            **({"cursor_field": [cursor]} if incremental else {})}]}
        last_state: dict[str, Any] | None = None
        records = 0

        def rows() -> Iterator[dict[str, Any] | None]:
            nonlocal last_state, records
            for message in self._messages(config, "read", source_config, notes,
                                          catalog=configured, state=state):
                if message is None:
                    yield None
                elif message.get("type") == "RECORD":
                    record = message["record"]
                    if record.get("stream") == stream_name:
                        records += 1
                        yield record.get("data") or {}
                elif message.get("type") == "STATE":
                    last_state = _stream_state(message["state"], stream_name) or last_state

        yield from streams.tables(rows(), fields, request.template.date_field)
        notes.append(f"the source sent {records} record(s) of {stream_name} ("
                     + ("incremental from its state" if incremental else "full refresh")
                     + ")")
        if last_state is not None and incremental:
            files.save_state(request.connection.id, account, stream_name, last_state)

    # -- running the program -------------------------------------------------------------

    def _call(self, config: Mapping[str, Any], command: str, wanted: str,
              progress: installer.Progress | None = None) -> dict[str, Any]:
        """The one message of type `wanted` a spec, check or discover answers with."""
        notes: list[str] = []
        quiet = 0.0
        source_config = None if command == "spec" else _joined(config)
        for message in self._messages(config, command, source_config, notes,
                                      progress=progress):
            if message is None:
                quiet += process.IDLE_SECONDS
                if quiet > CALL_SECONDS:
                    raise SourceError(f"{config['package']} {command} said nothing for "
                                      f"{CALL_SECONDS} s; it was stopped")
                continue
            quiet = 0.0
            if message.get("type") == wanted:
                return message
        raise SourceError(f"{config['package']} {command} ended without a {wanted} message"
                          + (f"; it logged: {' | '.join(notes[-5:])}" if notes else ""))

    def _messages(self, config: Mapping[str, Any], command: str,
                  source_config: Mapping[str, Any] | None, notes: list[str], *,
                  catalog: Mapping[str, Any] | None = None,
                  state: Any = None, progress: installer.Progress | None = None
                  ) -> Iterator[dict[str, Any] | None]:
        """The program's messages (None on a quiet tick); LOG lines into `notes`, a TRACE
        error or a non-zero exit as SourceError with the source's own message."""
        program = installer.ensure(str(config["package"]), config.get("version") or None,
                                   progress)
        with files.handed(config=source_config, catalog=catalog, state=state) as paths:
            argv = [str(program.executable), command,
                    *(arg for name in ("config", "catalog", "state") if name in paths
                      for arg in (f"--{name}", str(paths[name])))]
            running = process.Program(argv, cwd=program.env_dir)
            try:
                yield from _read(running, program.package, command, notes)
            finally:
                running.kill()  # stopped early (cancel, timeout, an error): the whole group


def _read(running: process.Program, package: str, command: str, notes: list[str]
          ) -> Iterator[dict[str, Any] | None]:
    logged = 0
    for line in running.lines():
        if line is None:
            yield None
            continue
        try:
            message = json.loads(line)
        except ValueError:
            continue  # a stray print of the source: not a protocol message
        if not isinstance(message, dict):
            continue
        kind = message.get("type")
        if kind == "LOG":
            log = message.get("log") or {}
            if log.get("level") not in ("DEBUG", "TRACE") and logged < LOG_LINES:
                logged += 1
                notes.append(f"source {log.get('level', 'INFO')}: "
                             f"{str(log.get('message', ''))[:500]}")
        elif kind == "TRACE" and (message.get("trace") or {}).get("type") == "ERROR":
            error = message["trace"].get("error") or {}
            raise SourceError(f"{package} {command} failed: "
                              f"{error.get('message') or error.get('internal_message')}")
        else:
            yield message
    if running.exit_code:
        raise SourceError(running.failure(f"{package} {command}"))


def _joined(config: Mapping[str, Any]) -> dict[str, Any]:
    """The source's settings with its secrets put back where they belong."""
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


def _secret_paths(spec: Mapping[str, Any], prefix: tuple[str, ...] = ()
                  ) -> list[tuple[str, ...]]:
    out = []
    for name, prop in (spec.get("properties") or {}).items():
        if prop.get("airbyte_secret"):
            out.append((*prefix, name))
        elif prop.get("properties"):
            out += _secret_paths(prop, (*prefix, name))
    return out


def _spec_problems(spec: Mapping[str, Any], source_config: Mapping[str, Any]) -> list[Problem]:
    """The source's settings against its spec: required ones present, top-level types."""
    problems = []
    properties = spec.get("properties") or {}
    for name in spec.get("required") or []:
        if source_config.get(name) in (None, ""):
            title = properties.get(name, {}).get("title") or name
            problems.append(Problem(f"config.source_config.{name}",
                                    f"is required by the source ({title})"))
    checks = {"integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
              "boolean": lambda v: isinstance(v, bool), "string": lambda v: isinstance(v, str)}
    for name, value in source_config.items():
        kind = (properties.get(name) or {}).get("type")
        check = checks.get(kind) if isinstance(kind, str) else None
        if check is not None and value is not None and not check(value):
            problems.append(Problem(f"config.source_config.{name}",
                                    f"must be a {kind}, not {value!r}"))
    return problems


def _cursor(stream: Mapping[str, Any]) -> str | None:
    cursor = stream.get("default_cursor_field") or []
    return ".".join(cursor) if cursor else None


def _start_date_name(spec: Mapping[str, Any]) -> str | None:
    properties = spec.get("properties") or {}
    return next((n for n in START_DATE_NAMES if n in properties), None)


def _stream_state(state: Mapping[str, Any], stream: str) -> dict[str, Any] | None:
    if state.get("type") == "STREAM":
        inner = state.get("stream") or {}
        if (inner.get("stream_descriptor") or {}).get("name") == stream:
            return dict(inner.get("stream_state") or {})
        return None
    data = state.get("data")
    if isinstance(data, dict) and isinstance(data.get(stream), dict):
        return dict(data[stream])  # the legacy form: {stream: state}
    return None

