"""The `http_json` connector against a real HTTP server on loopback, end to end."""

from __future__ import annotations

import base64
import json
import threading
import time as clock
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy.orm import Session

from core import errors, schemas, service
from core.connectors import registry
from core.connectors.base import (
    AccountSpec,
    ConnectionInfo,
    FetchRequest,
    SourceError,
    TransientError,
)
from core.connectors.http_json import HttpJson, transport
from core.db import Database
from core.models import Connection, Template
from core.services.catalog import connection_info
from core.services.common import template_spec
from tests.conftest import NOW
from tests.core.connectors.conftest import (
    DAYS,
    connection_count,
    load,
    metadata_bytes,
    own_template,
)

TOKEN = f"tok-{uuid.uuid4().hex}"
PASSWORD = f"pw-{uuid.uuid4().hex}"


def records(start: date, end: date) -> list[dict[str, Any]]:
    """Two campaigns a day; clicks = day of month * 10 + campaign index."""
    out = []
    day = start
    while day <= end:
        for j, name in enumerate(("Spring Sale", "Brand")):
            out.append({"day": day.isoformat(), "campaign": {"id": j + 1, "name": name},
                        "clicks": day.day * 10 + j, "spend": day.day + j / 2,
                        "tags": ["paid", name.lower()]})
        day += timedelta(days=1)
    return out


@dataclass
class Api:
    """The behaviour of the test server, and what it saw."""

    url: str = ""
    seen: list[tuple[str, dict[str, str], dict[str, str]]] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)

    def answer(self, path: str, query: dict[str, str], headers: dict[str, str]
               ) -> tuple[int, dict[str, str], bytes]:
        self.seen.append((path, query, headers))
        self.calls[path] += 1

        def ok(body: Any, extra: dict[str, str] | None = None) -> tuple[int, dict[str, str],
                                                                          bytes]:
            return 200, {"Content-Type": "application/json", **(extra or {})}, \
                json.dumps(body).encode()

        def window(from_name: str = "date_from", to_name: str = "date_to",
                   fmt: str = "%Y-%m-%d") -> list[dict[str, Any]]:
            if from_name not in query:  # no window: every record, as many APIs answer
                return records(DAYS[0], DAYS[-1])
            return records(datetime.strptime(query[from_name], fmt).date(),
                           datetime.strptime(query[to_name], fmt).date())

        if path == "/v1/report":  # bearer; start/end as dd.mm.yyyy; page numbers; data.items
            if headers.get("authorization") != f"Bearer {TOKEN}":
                return 401, {}, b'{"error": "bad token"}'
            rows = window("start", "end", "%d.%m.%Y")
            page, size = int(query["page"]), int(query["per_page"])
            return ok({"data": {"items": rows[(page - 1) * size: page * size]}})
        if path == "/v1/offset":  # API key header; offset/limit; the body is the list
            if headers.get("x-token") != TOKEN:
                return 401, {}, b"{}"
            offset, limit = int(query.get("offset", 0)), int(query.get("limit", 1000))
            return ok(window()[offset: offset + limit])
        if path == "/v1/cursor":  # API key as a query parameter; cursor in the body
            if query.get("key") != TOKEN:
                return 403, {}, b"{}"
            rows, at = window(), int(query.get("cursor", "0"))
            following = at + 4 if at + 4 < len(rows) else None
            return ok({"results": rows[at: at + 4], "paging": {"next": following}})
        if path == "/v1/link":  # basic auth; Link header
            expected = base64.b64encode(f"ana:{PASSWORD}".encode()).decode()
            if headers.get("authorization") != f"Basic {expected}":
                return 401, {}, b"{}"
            rows, at = window(), int(query.get("at", "0"))
            extra = {}
            if at + 5 < len(rows):
                window_query = "".join(f"{n}={query[n]}&" for n in ("date_from", "date_to")
                                       if n in query)
                next_url = f"{self.url}/v1/link?{window_query}at={at + 5}"
                extra["Link"] = f'<{next_url}>; rel="next"'
            return ok(rows[at: at + 5], extra)
        if path == "/v1/limited":  # 429 twice, then the records
            if self.calls[path] <= 2:
                return 429, {"Retry-After": "7"}, b"{}"
            return ok(window())
        if path == "/v1/limited_until":  # 429 until 42 seconds after NOW, then the records
            if self.calls[path] <= 1:
                until = format_datetime(NOW + timedelta(seconds=42), usegmt=True)
                return 429, {"Retry-After": until}, b"{}"
            return ok(window())
        if path == "/v1/events":  # a timestamp; the server ignores the window (some do)
            return ok([{"id": n, "at": f"{day.isoformat()}T23:30:00Z"}
                       for n, day in enumerate(DAYS)])
        if path == "/v1/boom":
            return 502, {}, b"bad gateway"
        if path == "/v1/slow":
            clock.sleep(1.0)
            return ok(window())
        if path == "/v1/badjson":
            return 200, {"Content-Type": "application/json"}, b'{"data": [1, 2'
        if path == "/v1/windowed":  # refuses a request without the window
            if "date_from" not in query:
                return 400, {}, b'{"error": "date_from is required"}'
            return ok(window())
        if path == "/v1/renamed":
            return ok({"data": {"rows": window()}})
        return 404, {}, b"{}"


@pytest.fixture
def api() -> Iterator[Api]:
    """A real HTTP server on 127.0.0.1 in a thread, for the duration of one test."""
    state = Api()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra, body = state.answer(parts.path, query, headers)
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Waits a 429 asks for, recorded instead of slept."""
    waits: list[float] = []
    monkeypatch.setattr(transport, "sleep", waits.append)
    return waits


def connect(session: Session, api: Api, endpoint: str, **config: Any) -> schemas.ConnectionOut:
    return service.create_connection(session=session, data={
        "datasource": "http_json", "title": "API",
        "config": {"base_url": api.url, "endpoint": endpoint, **config}})


def test_page_numbers_bearer_token_and_a_custom_window_format(
        db: Database, session: Session, api: Api) -> None:
    connection = connect(session, api, "/v1/report", auth="bearer", token=TOKEN,
                         date_from_param="start", date_to_param="end",
                         date_format="%d.%m.%Y", records_path="data.items",
                         pagination="page", page_size=4)
    template = own_template(session, connection.id, "records")
    types = {f.name: f.type for f in template.fields}
    # JSON numbers are numbers: 0.0 is written 0, so whole values in a sample prove nothing.
    assert types == {"day": "date", "campaign.id": "number", "campaign.name": "string",
                     "clicks": "number", "spend": "number", "tags": "string"}
    assert template.date_field == "day"
    api.seen.clear()

    done, rows = load(db, session, template=template, account_id=connection.accounts[0].id,
                      fields=["day", "campaign.name", "clicks", "tags"],
                      filters=[{"field": "clicks", "operator": "gte", "value": 40}])

    assert done.status == "succeeded", done.error
    assert sorted(rows["clicks"]) == [40, 41, 50, 51]
    assert set(rows["campaign.name"]) == {"Spring Sale", "Brand"}
    assert '["paid", "brand"]' in set(rows["tags"])
    assert [(q["start"], q["end"], q["page"]) for _, q, _ in api.seen] == [
        ("03.11.2026", "05.11.2026", "1"), ("03.11.2026", "05.11.2026", "2")]


@pytest.mark.parametrize(("endpoint", "config", "requests"), [
    ("/v1/offset", {"auth": "api_key_header", "key_name": "X-Token", "pagination": "offset",
                    "page_size": 4}, 2),
    ("/v1/cursor", {"auth": "query_param", "key_name": "key", "pagination": "cursor",
                    "records_path": "results", "cursor_path": "paging.next"}, 2),
    ("/v1/link", {"auth": "basic", "username": "ana", "pagination": "link"}, 2),
])
def test_each_pagination_and_auth_loads_every_record(
        db: Database, session: Session, api: Api, endpoint: str, config: dict[str, Any],
        requests: int) -> None:
    secret = {"password": PASSWORD} if config["auth"] == "basic" else {"token": TOKEN}
    connection = connect(session, api, endpoint, **config, **secret)
    api.seen.clear()

    done, rows = load(db, session, template=own_template(session, connection.id, "records"),
                      account_id=connection.accounts[0].id, fields=["day", "clicks"])

    assert done.status == "succeeded", done.error
    assert sorted(rows["clicks"]) == [30, 31, 40, 41, 50, 51]
    assert len(api.seen) == requests


def test_a_timestamp_drives_the_window_through_its_day(db: Database, session: Session,
                                                        api: Api) -> None:
    connection = connect(session, api, "/v1/events")
    template = own_template(session, connection.id, "records")
    assert template.date_field == "at__date"

    done, rows = load(db, session, template=template, account_id=connection.accounts[0].id,
                      fields=["at__date", "at", "id"])

    assert done.status == "succeeded", done.error
    assert sorted(rows["id"]) == [2, 3, 4]  # 23:30 UTC on the window's last day included


def test_secrets_are_stored_encrypted_only(db: Database, session: Session, api: Api) -> None:
    connect(session, api, "/v1/report", auth="bearer", token=TOKEN, date_from_param="start",
            date_to_param="end", date_format="%d.%m.%Y", records_path="data.items",
            pagination="page")
    connection = connect(session, api, "/v1/link", auth="basic", username="ana",
                         password=PASSWORD, pagination="link")
    assert connection.secret_fields == ["password", "token"]
    assert "password" not in connection.config
    done, _ = load(db, session, template=own_template(session, connection.id, "records"),
                   account_id=connection.accounts[0].id, fields=["day", "clicks"])
    assert done.status == "succeeded", done.error
    session.commit()

    stored = metadata_bytes(db.settings.var_dir)
    assert TOKEN.encode() not in stored
    assert PASSWORD.encode() not in stored


def test_a_429_is_waited_out_as_retry_after_says(
        db: Database, session: Session, api: Api, no_sleep: list[float]) -> None:
    connection = connect(session, api, "/v1/offset", auth="api_key_header",
                         key_name="X-Token", token=TOKEN)
    request = _with(_request(session, connection.id), endpoint="/v1/limited")

    chunks = list(registry.get("http_json").fetch(request).chunks)

    assert no_sleep == [7.0, 7.0]
    assert sum(len(c) for c in chunks) == 6


def test_a_429_until_a_date_is_waited_out_from_the_clock(
        session: Session, api: Api, no_sleep: list[float]) -> None:
    connection = connect(session, api, "/v1/offset", auth="api_key_header",
                         key_name="X-Token", token=TOKEN)
    request = _with(_request(session, connection.id), endpoint="/v1/limited_until")

    chunks = list(HttpJson(clock=lambda: NOW).fetch(request).chunks)

    assert no_sleep == [42.0]
    assert sum(len(c) for c in chunks) == 6


@pytest.mark.parametrize("today", [NOW, NOW + timedelta(days=3650)])
def test_the_sample_and_the_check_do_not_depend_on_today(api: Api, today: datetime) -> None:
    source = HttpJson(clock=lambda: today)
    config = {"base_url": api.url, "endpoint": "/v1/offset", "auth": "api_key_header",
              "key_name": "X-Token", "token": TOKEN, "pagination": "offset", "page_size": 4,
              "sample_pages": 2}
    connection = ConnectionInfo(id=1, datasource="http_json", secrets={}, config=config)

    [template] = source.templates(connection)
    source.check(connection)

    assert template.date_field == "day"
    # Two pages of the whole, then the check's first page; no window in any of them.
    assert [q for _, q, _ in api.seen] == [
        {"offset": "0", "limit": "4"}, {"offset": "4", "limit": "4"},
        {"offset": "0", "limit": "4"}]

    api.seen.clear()
    windowed = ConnectionInfo(id=1, datasource="http_json", secrets={}, config={
        **config, "sample_date_from": "2026-11-03", "sample_date_to": "2026-11-04"})
    source.templates(windowed)
    assert [(q["date_from"], q["date_to"], q["offset"]) for _, q, _ in api.seen] == [
        ("2026-11-03", "2026-11-04", "0"), ("2026-11-03", "2026-11-04", "4")]


def _request(session: Session, connection_id: int) -> FetchRequest:
    connection = session.get(Connection, connection_id)
    template = session.get(Template, own_template(session, connection_id, "records").id)
    assert connection is not None and template is not None
    return FetchRequest(connection=connection_info(session, connection),
                        account=AccountSpec("api", "api"), template=template_spec(template),
                        fields=("day", "clicks"), filters=(), options={}, date_from=DAYS[2],
                        date_to=DAYS[4], today=NOW.date())


def _with(request: FetchRequest, **config: Any) -> FetchRequest:
    info = request.connection
    changed = info.__class__(id=info.id, datasource=info.datasource,
                             config={**info.config, **config}, secrets=info.secrets)
    return FetchRequest(connection=changed, account=request.account,
                        template=request.template, fields=request.fields,
                        filters=request.filters, options=request.options,
                        date_from=request.date_from, date_to=request.date_to,
                        today=request.today)


@pytest.mark.parametrize(("config", "message"), [
    ({"endpoint": "/v1/boom"}, "/v1/boom failed with HTTP 502 (a server error)"),
    ({"endpoint": "/v1/slow", "timeout_seconds": 0.2}, "/v1/slow did not answer within 0.2s"),
    ({"endpoint": "/v1/limited", "max_retries": 1}, "is rate limiting (HTTP 429, retry after 7s)"),
])
def test_server_errors_timeouts_and_rate_limits_are_transient(
        session: Session, api: Api, config: dict[str, Any], message: str) -> None:
    connection = connect(session, api, "/v1/offset", auth="api_key_header",
                         key_name="X-Token", token=TOKEN)
    request = _with(_request(session, connection.id), **config)

    with pytest.raises(TransientError) as failed:
        list(registry.get("http_json").fetch(request).chunks)

    assert message in str(failed.value)


def test_a_server_error_fails_the_run_as_temporary(db: Database, session: Session,
                                                   api: Api) -> None:
    connection = connect(session, api, "/v1/offset", auth="api_key_header",
                         key_name="X-Token", token=TOKEN)
    stored = session.get(Connection, connection.id)
    assert stored is not None
    stored.config = {**stored.config, "endpoint": "/v1/boom"}

    done, _ = load(db, session, template=own_template(session, connection.id, "records"),
                   account_id=connection.accounts[0].id, fields=["day", "clicks"])

    assert done.status == "failed"
    assert done.error == f"temporary source error: {api.url}/v1/boom failed with HTTP 502 " \
                         "(a server error)"


@pytest.mark.parametrize(("config", "message"), [
    ({"token": "wrong"}, "authentication failed (HTTP 401 from {url}/v1/offset); check the "
                         "API key (sent in the X-Token header)"),
    ({"endpoint": "/v1/cursor", "auth": "query_param", "key_name": "key", "token": "other"},
     "access denied: the credentials are valid but may not read this endpoint (HTTP 403"),
    ({"endpoint": "/v1/nothing"}, "{url}/v1/nothing was not found (HTTP 404): check base_url "
                                  "and endpoint"),
    ({"endpoint": "/v1/badjson"}, "bad JSON from {url}/v1/badjson"),
    ({"endpoint": "/v1/renamed", "records_path": "data.items"},
     "bad JSON at path 'data.items': no 'items' at data (found: rows)"),
    ({"base_url": "http://127.0.0.1:1"}, "host unreachable: cannot connect to 127.0.0.1:1"),
])
def test_check_says_what_to_fix(db: Database, session: Session, api: Api,
                                config: dict[str, Any], message: str) -> None:
    connection = connect(session, api, "/v1/offset", auth="api_key_header",
                         key_name="X-Token", token=TOKEN)
    stored = session.get(Connection, connection.id)
    assert stored is not None
    secrets = {"token": config.pop("token", TOKEN)}
    stored.config = {**stored.config, **config}
    stored.secrets = db.cipher.encrypt(secrets)

    result = service.test_connection(session=session, connection_id=connection.id)

    assert not result.ok
    assert message.format(url=api.url) in result.message
    assert TOKEN not in result.message


def test_a_wrong_endpoint_is_refused_and_nothing_saved(db: Database, api: Api) -> None:
    before = connection_count(db)
    with pytest.raises(errors.Conflict) as refused, db.session() as s:
        connect(s, api, "/v1/nothing")
    assert "was not found (HTTP 404): check base_url and endpoint" in str(refused.value)
    assert connection_count(db) == before


@pytest.mark.parametrize(("config", "field", "message"), [
    ({"auth": "bearer"}, "config.token", "is required for auth bearer"),
    ({"auth": "basic", "username": "ana"}, "config.password", "is required for basic auth"),
    ({"base_url": "ftp://example.com"}, "config.base_url", "is not an http(s) URL"),
    ({"date_format": "%Y"}, "config.date_format", "must be a strftime format with the day"),
    ({"pagination": "scroll"}, "config.pagination", "must be one of none, page"),
    ({"column_types": "rain=float"}, "config.column_types",
     "'rain=float' is not name=type with a type among string, integer, number"),
    ({"sample_date_from": "2016-02-30", "sample_date_to": "2016-03-01"},
     "config.sample_date_from", "'2016-02-30' is not a date; write YYYY-MM-DD"),
    ({"sample_date_from": "2016-02-01"}, "config.sample_date_to",
     "is required with the other end of the sample window"),
    ({"sample_date_from": "2016-02-02", "sample_date_to": "2016-02-01"},
     "config.sample_date_from", "2016-02-02 is after sample_date_to 2016-02-01"),
])
def test_bad_config_is_refused_and_nothing_saved(
        db: Database, config: dict[str, Any], field: str, message: str) -> None:
    before = connection_count(db)
    body = {"base_url": "http://127.0.0.1:9", "endpoint": "/x", **config}
    with pytest.raises(errors.Invalid) as bad, db.session() as s:
        service.create_connection(session=s, data={"datasource": "http_json", "title": "Bad",
                                                   "config": body})
    assert any(message in m for m in bad.value.for_field(field)), bad.value.problems
    assert connection_count(db) == before


def test_link_pagination_asks_for_a_page_size_then_follows_the_links(
        db: Database, session: Session, api: Api) -> None:
    connection = connect(session, api, "/v1/link", auth="basic", username="ana",
                         password=PASSWORD, pagination="link", page_size_param="limit",
                         page_size=5)
    api.seen.clear()

    done, rows = load(db, session, template=own_template(session, connection.id, "records"),
                      account_id=connection.accounts[0].id, fields=["day", "clicks"])

    assert done.status == "succeeded", done.error
    assert len(rows) == 6
    first, following = (q for _, q, _ in api.seen)
    assert (first["page"], first["limit"]) == ("1", "5")
    assert "limit" not in following and following["at"] == "5"  # the Link header's URL


def test_a_value_that_does_not_fit_its_field_names_the_field_and_value(
        session: Session, api: Api) -> None:
    connection = connect(session, api, "/v1/offset", auth="api_key_header",
                         key_name="X-Token", token=TOKEN)
    request = _request(session, connection.id)
    fields = tuple(replace(f, type="integer") if f.name == "clicks" else
                   replace(f, type="boolean") if f.name == "spend" else f
                   for f in request.template.fields)
    template = replace(request.template, fields=fields)

    with pytest.raises(SourceError) as failed:
        list(registry.get("http_json").fetch(replace(
            request, template=template, fields=("day", "spend"))).chunks)

    assert str(failed.value).startswith(
        "field spend is boolean but the source sent 3.0 (the record of 2026-11-03): not true "
        "or false; correct its type in the connection's column_types")


def test_column_types_naming_a_field_the_records_lack_is_refused(db: Database, api: Api
                                                                 ) -> None:
    with pytest.raises(errors.Conflict) as refused, db.session() as s:
        connect(s, api, "/v1/offset", auth="api_key_header", key_name="X-Token", token=TOKEN,
                column_types="rain=number, clicks=integer")
    assert ("column_types names rain, not in the sampled records; their fields: day, "
            "campaign.id, campaign.name, clicks, spend, tags") in str(refused.value)


def test_an_api_that_needs_a_window_is_sampled_in_the_window_given(db: Database, api: Api
                                                                   ) -> None:
    with pytest.raises(errors.Conflict) as refused, db.session() as s:
        connect(s, api, "/v1/windowed")
    assert "refused the request with HTTP 400" in str(refused.value)
    assert str(refused.value).endswith("; if the API needs a window, give sample_date_from "
                                       "and sample_date_to")

    with db.session() as s:
        made = connect(s, api, "/v1/windowed", sample_date_from="2026-11-02",
                       sample_date_to="2026-11-03")
        assert own_template(s, made.id, "records").date_field == "day"
