"""http_json keeps credentials at home: a redirect to another origin is followed without the
Authorization header, the API key header or a key in the query; an allow-list of hosts
(EXTRACTS_HTTP_HOSTS) holds for redirects too. Two real HTTP servers on loopback."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.clock import utcnow
from core.connectors import sandbox
from core.connectors.base import SourceError
from core.connectors.http_json import transport
from tests import servers

SECRET = "tok-3f1c9a-canary"


class Seen(list[tuple[str, dict[str, str]]]):
    pass


def origin(seen: Seen, redirect_to: list[str]) -> Callable[[str, dict[str, str]],
                                                           servers.Answer]:
    """An origin that notes each request; /start redirects (302) where `redirect_to` says."""

    def answer(path: str, headers: dict[str, str]) -> servers.Answer:
        seen.append((path, headers))
        if redirect_to and path.startswith("/start"):
            return 302, {"Location": redirect_to[0]}, b""
        return 200, {"Content-Type": "application/json"}, json.dumps(
            [{"day": "2016-01-01", "clicks": 1}]).encode()

    return answer


@pytest.fixture
def two_origins() -> Iterator[tuple[str, Seen, str, Seen, list[str]]]:
    first_seen, other_seen, redirect = Seen(), Seen(), []
    with servers.http_server(origin(first_seen, redirect)) as first, \
            servers.http_server(origin(other_seen, [])) as other:
        yield first, first_seen, other, other_seen, redirect


@pytest.mark.parametrize("auth", [
    {"auth": "bearer", "token": SECRET},
    {"auth": "api_key_header", "token": SECRET, "key_name": "X-Api-Key"},
    {"auth": "basic", "username": "ana", "password": SECRET},
    {"auth": "query_param", "token": SECRET, "key_name": "key"},
])
def test_a_redirect_to_another_origin_carries_no_credentials(
        two_origins: tuple[str, Seen, str, Seen, list[str]], auth: dict[str, str]) -> None:
    first, first_seen, other, other_seen, redirect = two_origins
    redirect.append(f"{other}/records?key={SECRET}&page=2")  # a source echoing the key
    config = {"base_url": first, "endpoint": "/start", **auth}
    answer = transport.get(config, transport.endpoint(config), {}, clock=utcnow)
    assert answer.status == 200
    [(path, headers)] = other_seen
    assert SECRET not in path and "page=2" in path
    assert "authorization" not in headers and "x-api-key" not in headers
    assert SECRET not in json.dumps(headers)
    assert base64.b64encode(f"ana:{SECRET}".encode()).decode() not in json.dumps(headers)
    # The first origin did get them: credentials go where they were configured for.
    [(first_path, first_headers)] = first_seen
    assert SECRET in first_path + json.dumps(first_headers) + "".join(
        base64.b64decode(v.split()[-1]).decode() for k, v in first_headers.items()
        if k == "authorization" and v.startswith("Basic"))


def test_a_redirect_on_the_same_origin_keeps_them(
        two_origins: tuple[str, Seen, str, Seen, list[str]]) -> None:
    first, first_seen, _, _, redirect = two_origins
    redirect.append(f"{first}/records")
    config = {"base_url": first, "endpoint": "/start", "auth": "bearer", "token": SECRET}
    transport.get(config, transport.endpoint(config), {}, clock=utcnow)
    assert [h.get("authorization") for _, h in first_seen] == [f"Bearer {SECRET}"] * 2


def test_hosts_off_the_allow_list_are_refused_redirects_too(
        two_origins: tuple[str, Seen, str, Seen, list[str]], tmp_path: Path) -> None:
    first, _, other, other_seen, redirect = two_origins
    sandbox.configure(files_roots=[tmp_path], product_urls=[], http_hosts=["api.example.com"])
    try:
        config = {"base_url": first, "endpoint": "/start", "auth": "none"}
        with pytest.raises(SourceError, match=r"host 127.0.0.1 is not in EXTRACTS_HTTP_HOSTS "
                                              r"\(api.example.com\)"):
            transport.get(config, transport.endpoint(config), {}, clock=utcnow)
        sandbox.configure(files_roots=[tmp_path], product_urls=[], http_hosts=["127.0.0.1"])
        redirect.append(other.replace("127.0.0.1", "localhost") + "/records")
        with pytest.raises(SourceError, match="host localhost is not in EXTRACTS_HTTP_HOSTS"):
            transport.get(config, transport.endpoint(config), {}, clock=utcnow)
        assert other_seen == []
    finally:
        sandbox.configure(files_roots=[tmp_path], product_urls=[], http_hosts=[])
