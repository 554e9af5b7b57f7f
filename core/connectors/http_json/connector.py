"""The `http_json` connector: its settings, the template learned from a sample, fetch."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime
from itertools import islice
from typing import Any, ClassVar
from urllib.parse import urlsplit

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
from core.connectors.http_json import learn, pages, records, transport, typed
from core.errors import Problem

TEMPLATE_NAME = "records"
CHUNK_ROWS = 10_000


class HttpJson:
    """Records from an HTTP endpoint that answers JSON.

    `clock` gives the current time (timezone-aware): a Retry-After given as a date is waited
    out from it. Nothing else depends on today: the fields are learned from the first pages
    (or a sample window the user gives), so an API of old records connects as well.
    """

    name = "http_json"
    title = "HTTP JSON API"
    templates_per_connection = True
    config_schema: ClassVar[Mapping[str, Any]] = {
        "properties": {
            "base_url": {"type": "string", "title": "Base URL",
                         "description": "Scheme and host of the API, e.g. "
                                        "https://api.example.com."},
            "endpoint": {"type": "string", "title": "Endpoint",
                         "description": "The path of the records, e.g. /v1/reports/daily."},
            "auth": {"type": "string", "title": "Authentication", "default": "none",
                     "enum": ["none", "bearer", "api_key_header", "basic", "query_param"],
                     "description": "How credentials are sent: none, a bearer token, an API "
                                    "key header, basic auth, or an API key query parameter."},
            "token": {"type": "string", "title": "Token or API key", "secret": True,
                      "description": "The bearer token or API key (bearer, api_key_header, "
                                     "query_param)."},
            "key_name": {"type": "string", "title": "API key header or parameter name",
                         "description": "Default X-API-Key (header) or api_key (parameter)."},
            "username": {"type": "string", "title": "User name (basic auth)",
                         "description": "The user name of basic auth."},
            "password": {"type": "string", "title": "Password (basic auth)", "secret": True,
                         "description": "The password of basic auth."},
            "date_from_param": {"type": "string", "title": "Window start parameter",
                                "default": "date_from",
                                "description": "Query parameter of the window's first day."},
            "date_to_param": {"type": "string", "title": "Window end parameter",
                              "default": "date_to",
                              "description": "Query parameter of the window's last day."},
            "date_format": {"type": "string", "title": "Window date format",
                            "default": "%Y-%m-%d",
                            "description": "strftime format of the window's dates."},
            "records_path": {"type": "string", "title": "Records path",
                             "description": "Dot path to the list of records in the body, "
                                            "e.g. data.items; empty when the body is the list."},
            "date_field": {"type": "string", "title": "Date field",
                           "description": "The record field holding the date; empty to pick "
                                          "the likeliest."},
            "column_types": {"type": "string", "title": "Column types",
                             "description": "Corrections of learned types, e.g. "
                                            "visits=integer, zip=string (integer only if "
                                            "every sampled value is whole)."},
            "pagination": {"type": "string", "title": "Pagination", "default": "none",
                           "enum": ["none", "page", "offset", "cursor", "link"],
                           "description": "How pages are followed: page numbers, "
                                          "offset/limit, a cursor in the body, or the Link "
                                          "header (rel=next)."},
            "page_param": {"type": "string", "title": "Page parameter", "default": "page",
                           "description": "Query parameter of the page number (page; link "
                                          "sends it on the first request)."},
            "first_page": {"type": "integer", "title": "First page number", "default": 1,
                           "minimum": 0, "description": "The number of the first page."},
            "page_size_param": {"type": "string", "title": "Page size parameter",
                                "default": "per_page",
                                "description": "Query parameter of the page size (page, "
                                               "cursor and link pagination)."},
            "offset_param": {"type": "string", "title": "Offset parameter",
                             "default": "offset",
                             "description": "Query parameter of the offset (offset)."},
            "limit_param": {"type": "string", "title": "Limit parameter", "default": "limit",
                            "description": "Query parameter of the page size (offset)."},
            "page_size": {"type": "integer", "title": "Page size", "default": 100,
                          "minimum": 1, "maximum": 100_000,
                          "description": "Records asked for per page."},
            "cursor_path": {"type": "string", "title": "Next cursor path",
                            "default": "next_cursor",
                            "description": "Dot path to the next page's cursor in the body."},
            "cursor_param": {"type": "string", "title": "Cursor parameter",
                             "default": "cursor",
                             "description": "Query parameter that sends the cursor back."},
            "timeout_seconds": {"type": "number", "title": "Timeout (seconds)", "default": 30,
                                "minimum": 0.1, "maximum": 600,
                                "description": "Seconds one request may take."},
            "max_retries": {"type": "integer", "title": "Retries on 429", "default": 5,
                            "minimum": 0, "maximum": 20,
                            "description": "Times a rate-limited request is retried "
                                           "(Retry-After honoured)."},
            "max_pages": {"type": "integer", "title": "Most pages per run", "default": 100_000,
                          "minimum": 1, "description": "A run with more pages fails, saying "
                                                       "so."},
            "sample_pages": {"type": "integer", "title": "Pages sampled for the fields",
                             "default": 5, "minimum": 1, "maximum": 100,
                             "description": "Pages read to learn the fields and their types."},
            "sample_date_from": {"type": "string", "title": "Sample window start",
                                 "description": "First day (YYYY-MM-DD) of the window the "
                                                "fields are learned from; empty: the first "
                                                "pages without a window."},
            "sample_date_to": {"type": "string", "title": "Sample window end",
                               "description": "Last day (YYYY-MM-DD) of the sample window."},
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
        problems += shaping.column_types_problems(config)
        problems += _sample_window_problems(config)
        return problems

    # -- protocol ----------------------------------------------------------------------------

    def check(self, connection: ConnectionInfo) -> str:
        config = connection.config
        url = transport.endpoint(config)
        response = transport.get(config, url, {**_sample_window(config),
                                               **pages.first_page(config)},
                                 clock=self.clock, unreachable=SourceError)
        found = records.records(response, config)
        return (f"Reached {url}: HTTP {response.status}, "
                f"{len(found)} record(s) on the first page")

    def discover_accounts(self, connection: ConnectionInfo) -> list[AccountSpec]:
        host = urlsplit(transport.endpoint(connection.config)).netloc
        return [AccountSpec(host[:200], f"{host}{connection.config['endpoint']}"[:200])]

    def templates(self, connection: ConnectionInfo) -> list[TemplateSpec]:
        config = connection.config
        url = transport.endpoint(config)
        window = _sample_window(config)
        sample: list[dict[str, Any]] = []
        # The first pages, not a window ending today: an API of old records has none today.
        try:
            for page in islice(pages.pages(config, window, clock=self.clock,
                                           unreachable=SourceError),
                               int(config.get("sample_pages", 5))):
                sample.extend(records.flatten(r) for r in page)
        except SourceError as exc:
            if window or "HTTP 400" not in str(exc):
                raise
            raise SourceError(f"{exc}; if the API needs a window, give sample_date_from and "
                              "sample_date_to") from None
        if not sample:
            where = (f"for {config['sample_date_from']} to {config['sample_date_to']}"
                     if window else "without a window")
            raise SourceError(f"{url} returned no records {where} to learn the fields from; "
                              "give sample_date_from and sample_date_to, a window in which "
                              "the API has records")
        names = list(dict.fromkeys(k for record in sample for k in record))
        types = learn.field_types(sample, shaping.column_types(
            str(config.get("column_types") or "")))
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

    def live_template(self, connection: ConnectionInfo, name: str) -> bool:
        """No cheap look at the source: the fields come from a sample, and each run's values
        are checked against their fields as they are converted (typed.table)."""
        return False

    def fetch(self, request: FetchRequest) -> FetchResult:
        return FetchResult(chunks=self._chunks(request))

    def _chunks(self, request: FetchRequest) -> Iterator[pa.Table]:
        config = request.connection.config
        template = request.template
        types = {f.name: f.type for f in template.fields}
        wanted = set(request.fields)
        wanted |= {b for n in request.fields if (b := shaping.derived_base(n, types))}
        fields = [f for f in template.fields if f.name in wanted]
        window = (pages.window_params(config, request.date_from, request.date_to)
                  if request.date_from and request.date_to else {})
        pending: list[dict[str, Any]] = []

        # Records go straight into Arrow columns of their fields' types (typed.table).
        for page in pages.pages(config, window, clock=self.clock):
            pending.extend(records.flatten(r) for r in page)
            if len(pending) >= CHUNK_ROWS:
                yield typed.table(pending, fields, template.date_field)
                pending = []
        if pending:
            yield typed.table(pending, fields, template.date_field)


def _sample_window(config: Mapping[str, Any]) -> dict[str, str]:
    """The sample window's query parameters, or none (the first pages of everything)."""
    if not (config.get("sample_date_from") and config.get("sample_date_to")):
        return {}
    return pages.window_params(config, date.fromisoformat(str(config["sample_date_from"])),
                               date.fromisoformat(str(config["sample_date_to"])))


def _sample_window_problems(config: Mapping[str, Any]) -> list[Problem]:
    given = {n: config.get(n) for n in ("sample_date_from", "sample_date_to")
             if config.get(n)}
    if not given:
        return []
    problems = []
    days: dict[str, date] = {}
    for name, value in given.items():
        try:
            days[name] = date.fromisoformat(str(value))
        except ValueError:
            problems.append(Problem(f"config.{name}", f"{value!r} is not a date; write "
                                    "YYYY-MM-DD, e.g. 2016-01-01"))
    for name in ("sample_date_from", "sample_date_to"):
        if name not in given:
            problems.append(Problem(f"config.{name}", "is required with the other end of the "
                                    "sample window"))
    if len(days) == 2 and days["sample_date_from"] > days["sample_date_to"]:
        problems.append(Problem("config.sample_date_from",
                                f"{days['sample_date_from']} is after sample_date_to "
                                f"{days['sample_date_to']}"))
    return problems
