"""The `singer` connector: a PyPI package that is a Singer tap, installed into its own
environment; its settings from `--about --format=json` (taps built with the Meltano Singer
SDK answer it; others have none to check), the connection test and the templates from
`--discover`, a read of one selected stream with `--catalog` and `--state`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from core.connectors.base import ConnectionInfo, Note, SourceError
from core.connectors.programs import installer, running
from core.connectors.programs.settings import settings_schema
from core.connectors.programs.source import ProgramSource, Read, Stream


class Singer(ProgramSource):
    """Any Singer tap published on PyPI (tap-*)."""

    name = "singer"
    title = "Singer tap (PyPI)"
    kind = "tap"
    config_schema: ClassVar[Mapping[str, Any]] = settings_schema("tap-jsonl", "tap")

    def read_spec(self, config: Mapping[str, Any],
                  progress: installer.Progress | None = None) -> dict[str, Any]:
        try:
            about = self._document(config, ["--about", "--format=json"], with_config=False,
                                   progress=progress)
        except SourceError as exc:
            if "pip could not install" in str(exc) or "not a PyPI" in str(exc):
                raise
            return {}  # a tap without --about: its settings are its own business
        return dict(about.get("settings") or {})

    def is_secret(self, prop: Mapping[str, Any]) -> bool:
        return bool(prop.get("secret") or prop.get("sensitive") or prop.get("writeOnly"))

    def check(self, connection: ConnectionInfo) -> str:
        found = self.streams(connection.config)
        return (f"{connection.config['package']}: discover found {len(found)} stream(s): "
                + ", ".join(s.name for s in found))

    def streams(self, config: Mapping[str, Any]) -> list[Stream]:
        catalog = self._document(config, ["--config", "{config}", "--discover"])
        out = []
        for raw in catalog.get("streams", []):
            top = _top_metadata(raw)
            key = raw.get("replication_key") or (top.get("valid-replication-keys") or [None])[0]
            method = raw.get("replication_method") or top.get("forced-replication-method")
            out.append(Stream(name=str(raw.get("tap_stream_id") or raw.get("stream")),
                              schema=raw.get("schema") or {}, cursor=key,
                              incremental=bool(key) and method != "FULL_TABLE", raw=raw))
        return out

    def read(self, stream: Stream, incremental: bool, state: dict[str, Any] | None,
             columns: set[str]) -> Read:
        raw = json.loads(json.dumps(stream.raw))
        metadata = raw.setdefault("metadata", [])
        top = next((m for m in metadata if not m.get("breadcrumb")), None)
        if top is None:
            top = {"breadcrumb": [], "metadata": {}}
            metadata.append(top)
        top["metadata"]["selected"] = True
        if incremental:
            top["metadata"]["replication-method"] = "INCREMENTAL"
            top["metadata"]["replication-key"] = stream.cursor
        for item in metadata:  # the selected fields (a tap sends its automatic ones too)
            crumb = item.get("breadcrumb") or []
            if len(crumb) == 2 and crumb[0] == "properties":
                item.setdefault("metadata", {})["selected"] = crumb[1] in columns
        args = ["--config", "{config}", "--catalog", "{catalog}"]
        documents: dict[str, Any] = {"catalog": {"streams": [raw]}}
        if state is not None:
            args += ["--state", "{state}"]
            documents["state"] = state
        return Read(args=args, documents=documents)

    def cursor_value(self, stream: Stream, saved: Mapping[str, Any]) -> Any:
        """The bookmark's value (singer-sdk's form: bookmarks.<stream>.replication_key_value,
        or the classic bookmarks.<stream>.<key>)."""
        bookmark = (saved.get("bookmarks") or {}).get(stream.name) or {}
        return bookmark.get("replication_key_value", bookmark.get(stream.cursor or ""))

    def message(self, message: Mapping[str, Any], stream: str, notes: list[Note]
                ) -> tuple[str, Any] | None:
        kind = message.get("type")
        if kind == "RECORD" and message.get("stream") == stream:
            return "record", message.get("record") or {}
        if kind == "STATE":
            return "state", message.get("value")
        return None

    def _document(self, config: Mapping[str, Any], args: list[str], *,
                  with_config: bool = True, progress: installer.Progress | None = None
                  ) -> dict[str, Any]:
        """The one JSON document `--about` or `--discover` prints (over several lines)."""
        lines = list(running.call_lines(config, args, with_config=with_config,
                                        progress=progress))
        try:
            document = json.loads("\n".join(lines))
        except ValueError:
            raise SourceError(f"{config['package']} {' '.join(a for a in args if '{' not in a)}"
                              " did not print a JSON document") from None
        if not isinstance(document, dict):
            raise SourceError(f"{config['package']} printed {type(document).__name__}, "
                              "not a JSON object")
        return document


def _top_metadata(stream: Mapping[str, Any]) -> dict[str, Any]:
    for item in stream.get("metadata") or []:
        if not item.get("breadcrumb"):
            return dict(item.get("metadata") or {})
    return {}
