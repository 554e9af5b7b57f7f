"""The `http_json` connector: its settings, the template learned from a sample, fetch."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pandas as pd

from core.connectors import shaping
from core.connectors.base import (
    AccountSpec,
    ConnectionInfo,
    FetchRequest,
    FetchResult,
    SourceError,
    TemplateSpec,
)
from core.connectors.http_json import pages, records, transport
from core.errors import Problem

TEMPLATE_NAME = "records"
CHUNK_ROWS = 10_000


class HttpJson:
    """Records from an HTTP endpoint that answers JSON.

    `clock` gives the current time (timezone-aware): the sample's and the check's window end
    on its day, and a Retry-After given as a date is waited out from it.
    """

    name = "http_json"
    title = "HTTP JSON API"
    templates_per_connection = True
    config_schema: ClassVar[Mapping[str, Any]] = {
        "properties": {
            "base_url": {"type": "string", "title": "Base URL",
                         "description": "e.g. https://api.example.com"},
            "endpoint": {"type": "string", "title": "Endpoint",
                         "description": "The path of the records, e.g. /v1/reports/daily"},
            "auth": {"type": "string", "title": "Authentication", "default": "none",
                     "enum": ["none", "bearer", "api_key_header", "basic", "query_param"]},
            "token": {"type": "string", "title": "Token or API key", "secret": True},
            "key_name": {"type": "string", "title": "API key header or parameter name",
                         "description": "Default X-API-Key (header) or api_key (parameter)."},
            "username": {"type": "string", "title": "User name (basic auth)"},
            "password": {"type": "string", "title": "Password (basic auth)", "secret": True},
            "date_from_param": {"type": "string", "title": "Window start parameter",
                                "default": "date_from"},
            "date_to_param": {"type": "string", "title": "Window end parameter",
                              "default": "date_to"},
            "date_format": {"type": "string", "title": "Window date format",
                            "default": "%Y-%m-%d",
                            "description": "strftime format of the window's dates."},
            "records_path": {"type": "string", "title": "Records path",
                             "description": "Dot path to the list of records in the body, "
                                            "e.g. data.items; empty when the body is the list."},
            "date_field": {"type": "string", "title": "Date field",
                           "description": "The record field holding the date; empty to pick "
                                          "the likeliest."},
            "pagination": {"type": "string", "title": "Pagination", "default": "none",
                           "enum": ["none", "page", "offset", "cursor", "link"]},
            "page_param": {"type": "string", "title": "Page parameter", "default": "page"},
            "first_page": {"type": "integer", "title": "First page number", "default": 1,
                           "minimum": 0},
            "page_size_param": {"type": "string", "title": "Page size parameter",
                                "default": "per_page"},
            "offset_param": {"type": "string", "title": "Offset parameter",
                             "default": "offset"},
            "limit_param": {"type": "string", "title": "Limit parameter", "default": "limit"},
            "page_size": {"type": "integer", "title": "Page size", "default": 100,
                          "minimum": 1, "maximum": 100_000},
            "cursor_path": {"type": "string", "title": "Next cursor path",
                            "default": "next_cursor",
                            "description": "Dot path to the next page's cursor in the body."},
            "cursor_param": {"type": "string", "title": "Cursor parameter",
                             "default": "cursor"},
            "timeout_seconds": {"type": "number", "title": "Timeout (seconds)", "default": 30,
                                "minimum": 0.1, "maximum": 600},
            "max_retries": {"type": "integer", "title": "Retries on 429", "default": 5,
                            "minimum": 0, "maximum": 20},
            "max_pages": {"type": "integer", "title": "Most pages per run", "default": 100_000,
                          "minimum": 1},
            "sample_days": {"type": "integer", "title": "Days sampled for the fields",
                            "default": 30, "minimum": 1, "maximum": 3650},
        },
        "required": ["base_url", "endpoint"],
    }

    def __init__(self, *, clock: Callable[[], datetime]) -> None:
        self.clock = clock

    def validate_config(self, config: Mapping[str, Any]) -> list[Problem]:
        """Settings that go together: credentials for the auth, a usable URL and format."""
        problems = []
        parts = urlsplit(str(config["base_url"]))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append(Problem("config.base_url", f"{config['base_url']!r} is not an "
                                    "http(s) URL; write e.g. https://api.example.com"))
        auth = config.get("auth", "none")
        if auth in ("bearer", "api_key_header", "query_param") and not config.get("token"):
            problems.append(Problem("config.token", f"is required for auth {auth}"))
        if auth == "basic":
            for name in ("username", "password"):
                if not config.get(name):
                    problems.append(Problem(f"config.{name}", "is required for basic auth"))
        fmt = str(config.get("date_format", "%Y-%m-%d"))
        try:
            # Two days must come out different, or the window would say nothing.
            if date(2025, 1, 30).strftime(fmt) == date(2025, 1, 31).strftime(fmt):
                raise ValueError(fmt)
        except ValueError:
            problems.append(Problem("config.date_format", "must be a strftime format with the "
                                    "day in it, e.g. %Y-%m-%d"))
        return problems

    # -- protocol ----------------------------------------------------------------------------

    def check(self, connection: ConnectionInfo) -> str:
        config = connection.config
        today = self._today()
        url = transport.endpoint(config)
        response = transport.get(config, url,
                                 pages.window_params(config, today - timedelta(days=1), today),
                                 clock=self.clock, unreachable=SourceError)
        found = records.records(response, config)
        return (f"Reached {url}: HTTP {response.status}, "
                f"{len(found)} record(s) on the first page")

    def discover_accounts(self, connection: ConnectionInfo) -> list[AccountSpec]:
        host = urlsplit(transport.endpoint(connection.config)).netloc
        return [AccountSpec(host[:200], f"{host}{connection.config['endpoint']}"[:200])]

    def templates(self, connection: ConnectionInfo) -> list[TemplateSpec]:
        config = connection.config
        today = self._today()
        start = today - timedelta(days=int(config.get("sample_days", 30)) - 1)
        url = transport.endpoint(config)
        response = transport.get(
            config, url, {**pages.window_params(config, start, today), **pages.first_page(config)},
            clock=self.clock, unreachable=SourceError)
        sample = [records.flatten(r) for r in records.records(response, config)]
        if not sample:
            raise SourceError(f"{url} returned no records for {start} to {today} "
                              "to learn the fields from; raise sample_days")
        names = list(dict.fromkeys(k for record in sample for k in record))
        types = {n: shaping.type_of_values(r.get(n) for r in sample) for n in names}
        wanted = config.get("date_field") or None
        if wanted and types.get(wanted) not in ("date", "datetime"):
            raise SourceError(f"date field {wanted!r} is "
                              + (f"{types[wanted]} in the records" if wanted in types
                                 else "not in the records")
                              + f"; the records' fields: {', '.join(names)}")
        date_column = shaping.choose_date_column(types, wanted)
        fields, date_field = shaping.build_fields(types, date_column)
        return [TemplateSpec(
            name=TEMPLATE_NAME, title=f"Records of {config['endpoint']}"[:200],
            description=f"Records of {url}"
                        + (f"; the window applies to {date_column}." if date_column else "."),
            fields=fields, date_field=date_field,
            default_fields=tuple(f.name for f in fields[:30]),
        )]

    def fetch(self, request: FetchRequest) -> FetchResult:
        return FetchResult(chunks=shaping.arrow_chunks(self._chunks(request),
                                                       request.template.fields))

    def _today(self) -> date:
        return self.clock().astimezone(UTC).date()

    def _chunks(self, request: FetchRequest) -> Iterator[pd.DataFrame]:
        config = request.connection.config
        types = {f.name: f.type for f in request.template.fields}
        physical = [n for n in types if shaping.derived_base(n, types) is None]
        derived = {n: b for n in types if (b := shaping.derived_base(n, types)) is not None}
        window = (pages.window_params(config, request.date_from, request.date_to)
                  if request.date_from and request.date_to else {})
        pending: list[dict[str, Any]] = []

        def frame_of(rows: list[dict[str, Any]]) -> pd.DataFrame:
            frame = pd.DataFrame.from_records(rows, columns=physical)
            for name, base in derived.items():
                stamps = pd.to_datetime(frame[base], errors="coerce", utc=True)
                frame[name] = stamps.dt.date
            return frame

        for page in pages.pages(config, window, clock=self.clock):
            pending.extend(records.flatten(r) for r in page)
            if len(pending) >= CHUNK_ROWS:
                yield frame_of(pending)
                pending = []
        if pending:
            yield frame_of(pending)
