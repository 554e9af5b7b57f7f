"""Real receivers of alerts on loopback: a webhook endpoint that verifies every Standard
Webhooks signature with the `standardwebhooks` package, a Slack-shaped endpoint that checks
the body as Slack would, and an SMTP server (aiosmtpd) that keeps every mail; and a failed
extract to alert about."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import standardwebhooks
from aiosmtpd.controller import Controller

from core import runner, service
from core.connectors import registry
from core.connectors.base import FetchRequest, FetchResult, SourceError
from core.db import Database
from tests.conftest import NOW, make_extract
from tests.servers import free_port


@dataclass
class Receiver:
    """What a receiver got: `accepted` (bodies answered 2xx), `attempts` (every request's
    webhook-id or None), and `rejected` (why a request was refused)."""

    url: str = ""
    kind: str = "webhook"
    secret: str | None = None
    down: bool = False  # answer 503 while set: the receiver is "down"
    accepted: list[dict[str, Any]] = field(default_factory=list)
    attempts: list[str | None] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        if self.kind == "webhook":
            if self.secret is None:
                return 500, "the test gave no secret"
            try:  # the package's own check: signature and timestamp tolerance
                standardwebhooks.Webhook(self.secret).verify(body, headers)
            except standardwebhooks.WebhookVerificationError as exc:
                return 401, f"signature: {exc}"
            return 204, ""
        data = json.loads(body)
        if not isinstance(data.get("text"), str) or not data["text"]:
            return 400, "invalid_payload: no text"
        blocks = data.get("blocks")
        if not isinstance(blocks, list) or not all(isinstance(b, dict) and "type" in b
                                                    for b in blocks):
            return 400, "invalid_blocks"
        return 200, "ok"


@contextmanager
def receiver(kind: str = "webhook", secret: str | None = None) -> Iterator[Receiver]:
    """A webhook (or kind="slack") receiver on a free loopback port."""
    state = Receiver(kind=kind, secret=secret)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            with state.lock:
                state.attempts.append(headers.get("webhook-id"))
                if state.down:
                    status, text = 503, "down for maintenance"
                else:
                    status, text = state.check(body, headers)
                    if status < 300:
                        state.accepted.append(json.loads(body))
                    else:
                        state.rejected.append(text)
            self.send_response(status)
            payload = text.encode()
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/extracts"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[tuple[int, _Mailbox]]:
    """An SMTP server on a free loopback port; yields its port and the mailbox."""
    mailbox = _Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, mailbox
    finally:
        controller.stop()


def failed_extract(db: Database, monkeypatch: pytest.MonkeyPatch, error: str) -> int:
    """Something to alert about: an extract whose one run failed for good with `error` (its
    run.failed alert open). Returns the extract's id."""
    def fetch(_request: FetchRequest) -> FetchResult:
        raise SourceError(error)

    monkeypatch.setattr(registry.get("sample_ads"), "fetch", fetch)
    with db.session() as s:
        extract_id = make_extract(s).id
        [run] = service.run_extract(session=s, extract_id=extract_id, now=NOW,
                                    date_from=date(2026, 11, 1), date_to=date(2026, 11, 2))
    assert runner.execute_run(db=db, run_id=run.id, clock=lambda: NOW).status == "failed"
    return extract_id
