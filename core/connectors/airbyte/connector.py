"""The `airbyte` connector: a PyPI package that is an Airbyte source, installed into its own
environment, its `spec` the settings, `check` the connection test, `discover` one template
per stream, `read` the rows of one stream for a window (JSON messages, one a line)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from core.connectors.base import ConnectionInfo, Note, SourceError
from core.connectors.programs import installer, running
from core.connectors.programs.settings import settings_schema
from core.connectors.programs.source import ProgramSource, Read, Stream, narrowed
from core.vocabulary import LogLevel

# The levels of the protocol's LOG messages that reach the run's log (DEBUG and TRACE do not).
LEVELS = {"INFO": LogLevel.INFO, "WARN": LogLevel.WARNING, "WARNING": LogLevel.WARNING,
          "ERROR": LogLevel.ERROR, "FATAL": LogLevel.ERROR}


class Airbyte(ProgramSource):
    """Any Airbyte source published on PyPI (airbyte-source-*)."""

    name = "airbyte"
    title = "Airbyte source (PyPI)"
    kind = "source"
    config_schema: ClassVar[Mapping[str, Any]] = settings_schema("airbyte-source-faker",
                                                                 "source")

    def read_spec(self, config: Mapping[str, Any],
                  progress: installer.Progress | None = None) -> dict[str, Any]:
        message = self._one(config, ["spec"], "SPEC", with_config=False, progress=progress)
        return dict(message["spec"].get("connectionSpecification") or {})

    def is_secret(self, prop: Mapping[str, Any]) -> bool:
        return bool(prop.get("airbyte_secret"))

    def check(self, connection: ConnectionInfo) -> str:
        config = connection.config
        status = self._one(config, ["check", "--config", "{config}"],
                           "CONNECTION_STATUS")["connectionStatus"]
        if status.get("status") != "SUCCEEDED":
            raise SourceError(f"{config['package']} check failed: "
                              f"{status.get('message') or status.get('status')}")
        return f"{config['package']}: connection check succeeded"

    def streams(self, config: Mapping[str, Any]) -> list[Stream]:
        catalog = self._one(config, ["discover", "--config", "{config}"], "CATALOG")["catalog"]
        out = []
        for raw in catalog.get("streams", []):
            cursor = raw.get("default_cursor_field") or []
            out.append(Stream(name=raw["name"], schema=raw.get("json_schema") or {},
                              cursor=".".join(cursor) if cursor else None,
                              incremental="incremental" in raw.get("supported_sync_modes", []),
                              raw=raw))
        return out

    def read(self, stream: Stream, incremental: bool, state: dict[str, Any] | None,
             columns: set[str]) -> Read:
        # The stream's schema narrowed to the selected fields: sources that select fields
        # send only those, the others send all and the run keeps the selected ones.
        selected = {**stream.raw, "json_schema": narrowed(stream.schema, columns)}
        configured = {"streams": [{
            "stream": selected, "sync_mode": "incremental" if incremental else "full_refresh",
            "destination_sync_mode": "append",
            **({"cursor_field": [stream.cursor]} if incremental else {})}]}
        args = ["read", "--config", "{config}", "--catalog", "{catalog}"]
        documents: dict[str, Any] = {"catalog": configured}
        if state is not None:
            args += ["--state", "{state}"]
            documents["state"] = [{"type": "STREAM", "stream": {
                "stream_descriptor": {"name": stream.name}, "stream_state": state}}]
        return Read(args=args, documents=documents)

    def cursor_value(self, stream: Stream, saved: Mapping[str, Any]) -> Any:
        return saved.get(stream.cursor or "")

    def message(self, message: Mapping[str, Any], stream: str, notes: list[Note]
                ) -> tuple[str, Any] | None:
        kind = message.get("type")
        if kind == "RECORD":
            record = message.get("record") or {}
            return ("record", record.get("data") or {}) if record.get("stream") == stream \
                else None
        if kind == "STATE":
            return "state", _stream_state(message.get("state") or {}, stream)
        if kind == "LOG":
            log = message.get("log") or {}
            level = LEVELS.get(str(log.get("level") or "INFO").upper())
            if level is not None:
                running.add_note(notes, level, str(log.get("message", "")))
        elif kind == "TRACE" and (message.get("trace") or {}).get("type") == "ERROR":
            error = message["trace"].get("error") or {}
            raise SourceError(f"the source failed: "
                              f"{error.get('message') or error.get('internal_message')}")
        return None

    def _one(self, config: Mapping[str, Any], args: list[str], wanted: str, *,
             with_config: bool = True, progress: installer.Progress | None = None
             ) -> dict[str, Any]:
        """The one message of type `wanted` a spec, check or discover answers with."""
        notes: list[Note] = []
        for message in running.call(config, args, with_config=with_config,
                                    progress=progress):
            if message.get("type") == wanted:
                return message
            self.message(message, "", notes)  # a TRACE error fails with its words
        raise SourceError(f"{config['package']} {args[0]} ended without a {wanted} message"
                          + (f"; it logged: {' | '.join(text for _, text in notes[-5:])}"
                             if notes else ""))


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
