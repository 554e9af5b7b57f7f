"""What every API request and answer goes through before any route: a body size limit (413),
JSON that Python would accept but no other reader should (NaN, Infinity, lone surrogates:
400 naming where), and `X-Content-Type-Options: nosniff` on every answer.

A plain ASGI middleware: it costs one header check per request, and reads the body only to
count it (and, for JSON, to check it once) before the route reads it again.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NOSNIFF = (b"x-content-type-options", b"nosniff")


class Hygiene:
    """Wrap an ASGI app; `max_bytes()` is the body limit, read per request."""

    def __init__(self, app: ASGIApp, max_bytes: Callable[[], int]) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_nosniff(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append(*(h.decode() for h in NOSNIFF))
            await send(message)

        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is None and scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send_nosniff)
            return
        limit = self.max_bytes()
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _answer(send_nosniff, 413, _too_large(limit))
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > limit:
                await _answer(send_nosniff, 413, _too_large(limit))
                return
            if not message.get("more_body", False):
                break
        if body and "json" in headers.get("content-type", ""):
            problem = json_problem(bytes(body))
            if problem is not None:
                await _answer(send_nosniff, 400, problem)
                return
        await self.app(scope, _replay(bytes(body), receive), send_nosniff)


def _too_large(limit: int) -> str:
    return f"body: larger than {limit:,} bytes (EXTRACTS_MAX_REQUEST_BYTES); send less"


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the disconnect

    return replay


async def _answer(send: Send, status: int, details: str) -> None:
    payload = json.dumps({"details": details}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


def json_problem(body: bytes) -> str | None:
    """Where the JSON `body` holds a value only Python accepts, said as a Problem would
    (`path: what is wrong; what would be right`); None if it is fine or not JSON at all (the
    route then answers for malformed JSON itself)."""

    def constant(name: str) -> float:
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[name]

    try:
        data = json.loads(body, parse_constant=constant)
    except ValueError:
        return None
    for path, value in _walk(data, ""):
        where = path or "body"
        if isinstance(value, float) and not math.isfinite(value):
            token = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
            return f"{where}: {token} is not a JSON number; send a finite number or null"
        if isinstance(value, str) and _has_lone_surrogate(value):
            return (f"{where}: holds a lone surrogate (an unpaired \\ud800-\\udfff escape); "
                    "send valid Unicode text")
    return None


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            yield child, key  # a key is text too
            yield from _walk(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")
    else:
        yield path, value


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
