"""HTTP JSON APIs: one endpoint that returns records for a date window, page by page.

Auth by bearer token, API-key header, basic or a query parameter (the token and password are
secret settings, stored encrypted). The window goes out as two query parameters with names and
a date format of the user's choosing; pages are followed by page number, offset/limit, a cursor
in the body or the Link header; records are found at a dot path and nested objects flattened to
`parent.child` columns. The template's fields are learned from a sample of records.

A 429 is waited out (Retry-After honoured) and retried; 5xx and timeouts are TransientError
(the worker retries the run); 401, 403 and 404 are SourceError that says what to fix.
"""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar
from urllib.parse import urlencode, urljoin, urlsplit

import pandas as pd

from core.connectors import shaping
from core.connectors.base import (
    AccountSpec,
    ConnectionInfo,
    FetchRequest,
    FetchResult,
    SourceError,
    TemplateSpec,
    TransientError,
)
from core.errors import Problem

TEMPLATE_NAME = "records"
CHUNK_ROWS = 10_000
MAX_RETRY_AFTER = 300.0
# Swapped by tests so that a 429 is honoured without sleeping.
sleep = time.sleep

_AUTH_HINT = {
    "bearer": "check the bearer token",
    "api_key_header": "check the API key (sent in the {name} header)",
    "query_param": "check the API key (sent as the {name} query parameter)",
    "basic": "check the user name and password",
    "none": "this connection sends no credentials; set auth and a token",
}
_KEY_NAME_DEFAULT = {"api_key_header": "X-API-Key", "query_param": "api_key"}


class HttpJson:
    """Records from an HTTP endpoint that answers JSON."""

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
        today = datetime.now(UTC).date()
        response = _get(config, _endpoint(config),
                        _window_params(config, today - timedelta(days=1), today),
                        unreachable=SourceError)
        records = _records(response, config)
        return (f"Reached {_endpoint(config)}: HTTP {response.status}, "
                f"{len(records)} record(s) on the first page")

    def discover_accounts(self, connection: ConnectionInfo) -> list[AccountSpec]:
        host = urlsplit(_endpoint(connection.config)).netloc
        return [AccountSpec(host[:200], f"{host}{connection.config['endpoint']}"[:200])]

    def templates(self, connection: ConnectionInfo) -> list[TemplateSpec]:
        config = connection.config
        today = datetime.now(UTC).date()
        start = today - timedelta(days=int(config.get("sample_days", 30)) - 1)
        response = _get(config, _endpoint(config),
                        {**_window_params(config, start, today), **_first_page(config)},
                        unreachable=SourceError)
        sample = [_flatten(r) for r in _records(response, config)]
        if not sample:
            raise SourceError(f"{_endpoint(config)} returned no records for {start} to {today} "
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
            description=f"Records of {_endpoint(config)}"
                        + (f"; the window applies to {date_column}." if date_column else "."),
            fields=fields, date_field=date_field,
            default_fields=tuple(f.name for f in fields[:30]),
        )]

    def fetch(self, request: FetchRequest) -> FetchResult:
        return FetchResult(chunks=self._chunks(request))

    def _chunks(self, request: FetchRequest) -> Iterator[pd.DataFrame]:
        config = request.connection.config
        types = {f.name: f.type for f in request.template.fields}
        physical = [n for n in types if shaping.derived_base(n, types) is None]
        derived = {n: b for n in types if (b := shaping.derived_base(n, types)) is not None}
        window = (_window_params(config, request.date_from, request.date_to)
                  if request.date_from and request.date_to else {})
        pending: list[dict[str, Any]] = []

        def frame_of(rows: list[dict[str, Any]]) -> pd.DataFrame:
            frame = pd.DataFrame.from_records(rows, columns=physical)
            for name, base in derived.items():
                stamps = pd.to_datetime(frame[base], errors="coerce", utc=True)
                frame[name] = stamps.dt.date
            return frame

        for records in _pages(config, window):
            pending.extend(_flatten(r) for r in records)
            if len(pending) >= CHUNK_ROWS:
                yield frame_of(pending)
                pending = []
        if pending:
            yield frame_of(pending)


# -- HTTP ------------------------------------------------------------------------------------

def _endpoint(config: Mapping[str, Any]) -> str:
    return str(config["base_url"]).rstrip("/") + "/" + str(config["endpoint"]).lstrip("/")


def _key_name(config: Mapping[str, Any]) -> str:
    auth = str(config.get("auth", "none"))
    return str(config.get("key_name") or _KEY_NAME_DEFAULT.get(auth, ""))


@dataclass(frozen=True)
class _Response:
    """An HTTP answer, read whole (one page)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str

    def next_link(self) -> str | None:
        """The rel="next" URL of the Link header, made absolute."""
        for part in self.headers.get("Link", "").split(","):
            match = re.match(r'\s*<([^>]*)>(.*)', part)
            if match and re.search(r'rel\s*=\s*"?([^"]*\s)?next(\s[^"]*)?"?', match.group(2)):
                return urljoin(self.url, match.group(1))
        return None


def _headers(config: Mapping[str, Any]) -> dict[str, str]:
    auth = config.get("auth", "none")
    headers = {"Accept": "application/json", "User-Agent": "extracts/http_json"}
    if auth == "bearer":
        headers["Authorization"] = f"Bearer {config['token']}"
    elif auth == "api_key_header":
        headers[_key_name(config)] = str(config["token"])
    elif auth == "basic":
        pair = f"{config['username']}:{config.get('password', '')}".encode()
        headers["Authorization"] = f"Basic {base64.b64encode(pair).decode()}"
    return headers


def _send(url: str, headers: Mapping[str, str], timeout: float) -> _Response:
    """GET `url`; an HTTP error status is an answer too, not an exception."""
    request = urllib.request.Request(url, headers=dict(headers), method="GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return _Response(answer.status, dict(answer.headers.items()), answer.read(),
                             answer.url)
    except urllib.error.HTTPError as error:
        with error:
            return _Response(error.code, dict(error.headers.items()), error.read(), url)


def _window_params(config: Mapping[str, Any], date_from: date, date_to: date) -> dict[str, str]:
    fmt = str(config.get("date_format", "%Y-%m-%d"))
    return {str(config.get("date_from_param", "date_from")): date_from.strftime(fmt),
            str(config.get("date_to_param", "date_to")): date_to.strftime(fmt)}


def _first_page(config: Mapping[str, Any]) -> dict[str, Any]:
    mode = config.get("pagination", "none")
    size = int(config.get("page_size", 100))
    if mode == "page":
        return {str(config.get("page_param", "page")): int(config.get("first_page", 1)),
                str(config.get("page_size_param", "per_page")): size}
    if mode == "offset":
        return {str(config.get("offset_param", "offset")): 0,
                str(config.get("limit_param", "limit")): size}
    return {}


def _retry_after(value: str | None, attempt: int) -> float:
    """Seconds a 429 asks to wait: Retry-After as seconds or an HTTP date, else backoff."""
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC))
                           .total_seconds())
            except (TypeError, ValueError):
                pass
    return float(min(2 ** attempt, 60))


def _get(config: Mapping[str, Any], url: str, params: Mapping[str, Any], *,
         unreachable: type[Exception] = TransientError) -> _Response:
    """One GET, 429s waited out; errors as TransientError or SourceError naming the fix."""
    params = dict(params)
    if config.get("auth") == "query_param":
        params[_key_name(config)] = str(config["token"])
    # Never echo the query string: it may carry the API key.
    shown = url.split("?")[0]
    retries = int(config.get("max_retries", 5))
    timeout = float(config.get("timeout_seconds", 30))
    if params:
        url += ("&" if "?" in url else "?") + urlencode(params)
    headers = _headers(config)
    for attempt in range(retries + 1):
        try:
            response = _send(url, headers, timeout)
        except TimeoutError:
            raise TransientError(f"{shown} did not answer within {timeout:g}s") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise TransientError(f"{shown} did not answer within {timeout:g}s") from None
            raise unreachable(f"host unreachable: cannot connect to {urlsplit(shown).netloc} "
                              f"({exc.reason}); check base_url and that the server is up"
                              ) from None
        except (ConnectionError, OSError) as exc:
            raise TransientError(f"{shown} dropped the connection: {exc}") from None
        status = response.status
        if status == 429:
            wait = _retry_after(response.headers.get("Retry-After"), attempt)
            if attempt == retries or wait > MAX_RETRY_AFTER:
                raise TransientError(f"{shown} is rate limiting (HTTP 429, retry after "
                                     f"{wait:.0f}s) after {attempt + 1} attempt(s)")
            sleep(wait)
            continue
        if status in (401, 403):
            auth = str(config.get("auth", "none"))
            hint = _AUTH_HINT[auth].format(name=_key_name(config))
            what = ("authentication failed" if status == 401 else
                    "access denied: the credentials are valid but may not read this endpoint")
            raise SourceError(f"{what} (HTTP {status} from {shown}); {hint}")
        if status == 404:
            raise SourceError(f"{shown} was not found (HTTP 404): check base_url and endpoint")
        if status >= 500:
            raise TransientError(f"{shown} failed with HTTP {status} (a server error)")
        if status >= 400:
            raise SourceError(f"{shown} refused the request with HTTP {status}: "
                              f"{response.body[:200].decode(errors='replace')}; check the "
                              "parameter names and formats")
        return response
    raise AssertionError("unreachable")  # the loop returns or raises


def _body(response: _Response) -> Any:
    try:
        return json.loads(response.body)
    except ValueError as exc:
        raise SourceError(f"bad JSON from {str(response.url).split('?')[0]}: {exc}") from None


def _at(body: Any, path: str) -> Any:
    """The value at a dot path; SourceError naming the missing step."""
    value = body
    walked: list[str] = []
    for step in filter(None, path.split(".")):
        if isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        elif isinstance(value, dict) and step in value:
            value = value[step]
        else:
            where = ".".join(walked) or "the top level"
            keys = ", ".join(map(str, value)) if isinstance(value, dict) else type(value).__name__
            raise SourceError(f"bad JSON at path {path!r}: no {step!r} at {where} "
                              f"(found: {keys or 'nothing'})")
        walked.append(step)
    return value


def _records(response: _Response, config: Mapping[str, Any]) -> list[dict[str, Any]]:
    path = str(config.get("records_path") or "")
    records = _at(_body(response), path)
    if not isinstance(records, list) or any(not isinstance(r, dict) for r in records):
        kind = type(records).__name__ if not isinstance(records, list) else "a list of values"
        raise SourceError(f"bad JSON at path {path or '(the body)'!r}: expected a list of "
                          f"objects, found {kind}; set records_path to where the records are")
    return records


def _pages(config: Mapping[str, Any], window: Mapping[str, str]
           ) -> Iterator[list[dict[str, Any]]]:
    """The records of each page, following the configured pagination."""
    mode = config.get("pagination", "none")
    size = int(config.get("page_size", 100))
    url = _endpoint(config)
    params: dict[str, Any] = {**window, **_first_page(config)}
    for _ in range(int(config.get("max_pages", 100_000))):
        response = _get(config, url, params)
        records = _records(response, config)
        yield records
        if mode == "none" or not records:
            return
        if mode == "page":
            name = str(config.get("page_param", "page"))
            if len(records) < size:
                return
            params[name] += 1
        elif mode == "offset":
            name = str(config.get("offset_param", "offset"))
            if len(records) < size:
                return
            params[name] += len(records)
        elif mode == "cursor":
            path = str(config.get("cursor_path", "next_cursor"))
            try:
                cursor = _at(_body(response), path)
            except SourceError:
                return
            if cursor in (None, ""):
                return
            params[str(config.get("cursor_param", "cursor"))] = cursor
        elif mode == "link":
            following = response.next_link()
            if not following:
                return
            url, params = following, {}
    raise SourceError(f"{_endpoint(config)} still had more pages after max_pages="
                      f"{config.get('max_pages')}; raise max_pages or narrow the window")


def _flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects as parent.child keys; lists as JSON text."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        elif isinstance(value, list):
            out[name] = json.dumps(value)
        else:
            out[name] = value
    return out
