"""The window's query parameters, and following an API's pages: page, offset, cursor, link."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime
from typing import Any

from core.connectors.base import SourceError, TransientError
from core.connectors.http_json import records, transport


def window_params(config: Mapping[str, Any], date_from: date, date_to: date) -> dict[str, str]:
    """The window as the API's two query parameters, in its date format."""
    fmt = str(config.get("date_format", "%Y-%m-%d"))
    return {str(config.get("date_from_param", "date_from")): date_from.strftime(fmt),
            str(config.get("date_to_param", "date_to")): date_to.strftime(fmt)}


def first_page(config: Mapping[str, Any]) -> dict[str, Any]:
    """The query parameters that ask for the first page (none without page or offset)."""
    mode = config.get("pagination", "none")
    size = int(config.get("page_size", 100))
    if mode == "page":
        return {str(config.get("page_param", "page")): int(config.get("first_page", 1)),
                str(config.get("page_size_param", "per_page")): size}
    if mode == "offset":
        return {str(config.get("offset_param", "offset")): 0,
                str(config.get("limit_param", "limit")): size}
    if mode == "link":
        # The following pages' URLs come from the Link header; the first asks for the size
        # (some servers, json-server among them, paginate only when a page is asked for).
        return {str(config.get("page_param", "page")): int(config.get("first_page", 1)),
                str(config.get("page_size_param", "per_page")): size}
    if mode == "cursor":
        return {str(config.get("page_size_param", "per_page")): size}
    return {}


def pages(config: Mapping[str, Any], window: Mapping[str, str], *,
          clock: Callable[[], datetime], unreachable: type[Exception] = TransientError
          ) -> Iterator[list[dict[str, Any]]]:
    """The records of each page, following the configured pagination; an unreachable host
    raises `unreachable` (a run retries, a new connection is refused)."""
    mode = config.get("pagination", "none")
    size = int(config.get("page_size", 100))
    url = transport.endpoint(config)
    params: dict[str, Any] = {**window, **first_page(config)}
    for _ in range(int(config.get("max_pages", 100_000))):
        response = transport.get(config, url, params, clock=clock, unreachable=unreachable)
        page = records.records(response, config)
        yield page
        if mode == "none" or not page:
            return
        if mode == "page":
            name = str(config.get("page_param", "page"))
            if len(page) < size:
                return
            params[name] += 1
        elif mode == "offset":
            name = str(config.get("offset_param", "offset"))
            if len(page) < size:
                return
            params[name] += len(page)
        elif mode == "cursor":
            path = str(config.get("cursor_path", "next_cursor"))
            try:
                cursor = records.at(records.body(response), path)
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
    raise SourceError(f"{transport.endpoint(config)} still had more pages after max_pages="
                      f"{config.get('max_pages')}; raise max_pages or narrow the window")
